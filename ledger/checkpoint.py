"""C2SP tlog-checkpoint bodies, signing and verification.

Body: origin line, decimal tree size, base64 root hash, each ending in a newline (extension
lines, if any, follow and are kept). :class:`CheckpointSigner` never signs a checkpoint that
is not consistent with the last one it signed.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from ledger import hashing, merkle
from ledger.errors import (
    CheckpointError,
    ConsistencyProofError,
    InconsistentCheckpointError,
    NoteError,
)
from ledger.note import NoteSigner, NoteVerifier, open_note, sign_note

DEFAULT_ORIGIN = "vigie.local/ledger"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: ``origin``, ``size`` leaves, ``root`` hash (32 bytes)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The note text of this checkpoint."""
        if not self.origin or "\n" in self.origin:
            raise CheckpointError(f"bad origin {self.origin!r}")
        if self.size < 0 or len(self.root) != hashing.HASH_SIZE:
            raise CheckpointError(f"bad size {self.size} or root of {len(self.root)} bytes")
        root = base64.b64encode(self.root).decode("ascii")
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body strictly (decimal size without leading zeros, canonical
        base64 of a 32-byte root)."""
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"checkpoint body has {len(lines)} line(s), expected >= 3")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise CheckpointError("checkpoint origin is empty")
        if (
            not size_text.isascii()
            or not size_text.isdigit()
            or (len(size_text) > 1 and size_text[0] == "0")
        ):
            raise CheckpointError(f"checkpoint size {size_text!r} is not a decimal number")
        try:
            root = base64.b64decode(root_text.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError) as exc:
            raise CheckpointError(f"checkpoint root {root_text!r} is not base64") from exc
        if len(root) != hashing.HASH_SIZE or base64.b64encode(root).decode() != root_text:
            raise CheckpointError(f"checkpoint root {root_text!r} is not a 32-byte hash")
        if any(not line for line in extensions):
            raise CheckpointError("checkpoint has an empty extension line")
        return cls(origin, int(size_text), root, tuple(extensions))


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint and its signed note text (what stores keep and bundles carry)."""

    checkpoint: Checkpoint
    note: str


def verify_checkpoint(
    note: str, verifier: NoteVerifier | str, origin: str | None = None
) -> Checkpoint:
    """Verify the signature of a checkpoint note and parse it. Checks the origin when given.
    Raises SignatureError, NoteError or CheckpointError."""
    trusted = NoteVerifier.from_string(verifier) if isinstance(verifier, str) else verifier
    checkpoint = Checkpoint.parse(open_note(note, [trusted]))
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"origin mismatch: expected {origin!r}, got {checkpoint.origin!r}")
    return checkpoint


def check_consistent(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that ``new`` extends ``old`` (``proof`` is the consistency proof between them).

    An empty ``old`` tree is a prefix of anything. Raises InconsistentCheckpointError."""
    if new.origin != old.origin:
        raise InconsistentCheckpointError(f"origin {new.origin!r} differs from {old.origin!r}")
    if new.size < old.size:
        raise InconsistentCheckpointError(f"size {new.size} is below the signed {old.size}")
    if old.size == 0:
        if old.root != hashing.EMPTY_ROOT:
            raise InconsistentCheckpointError("the signed empty tree has a non-empty root")
        return
    try:
        merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
    except ConsistencyProofError as exc:
        raise InconsistentCheckpointError(
            f"size {new.size} is not consistent with the signed size {old.size}: {exc}"
        ) from exc


class CheckpointSigner:
    """Signs checkpoints for one origin, refusing any that do not extend the last one signed.

    Not thread-safe: the service serialises signing (it also serialises appends). Start it
    with the last checkpoint the store keeps so the promise holds across restarts."""

    def __init__(
        self, signer: NoteSigner, origin: str = DEFAULT_ORIGIN, last: Checkpoint | None = None
    ) -> None:
        if last is not None and last.origin != origin:
            raise CheckpointError(f"last checkpoint origin {last.origin!r} is not {origin!r}")
        self._signer = signer
        self.origin = origin
        self.last = last

    @property
    def verifier(self) -> NoteVerifier:
        """The public verifier key of the signer."""
        return self._signer.verifier

    @classmethod
    def resume(cls, signer: NoteSigner, origin: str, last_note: str | None) -> CheckpointSigner:
        """Start from the last stored note (verified with the signer's own key)."""
        if last_note is None:
            return cls(signer, origin)
        try:
            last = verify_checkpoint(last_note, signer.verifier, origin)
        except NoteError as exc:
            raise CheckpointError(f"the last stored checkpoint does not verify: {exc}") from exc
        return cls(signer, origin, last)

    def sign(self, size: int, root: bytes, proof: Sequence[bytes]) -> SignedCheckpoint:
        """Sign (``size``, ``root``) after checking ``proof`` links it to the last signed
        checkpoint. Raises InconsistentCheckpointError and signs nothing otherwise."""
        checkpoint = Checkpoint(self.origin, size, root)
        if size == 0 and root != hashing.EMPTY_ROOT:
            raise InconsistentCheckpointError("an empty tree must have the empty root")
        if self.last is not None:
            check_consistent(self.last, checkpoint, proof)
        note = sign_note(checkpoint.body(), [self._signer])
        self.last = checkpoint
        return SignedCheckpoint(checkpoint, note)

    def sign_tree(self, reader: merkle.NodeReader, size: int) -> SignedCheckpoint:
        """Compute the root of ``size`` leaves and the consistency proof from the last signed
        size out of ``reader``, then :meth:`sign`."""
        root = merkle.root(reader, size)
        proof: list[bytes] = []
        if self.last is not None and 0 < self.last.size < size:
            proof = merkle.consistency_proof(reader, self.last.size, size)
        return self.sign(size, root, proof)
