"""C2SP tlog-cosignature ``cosignature/v1``: timestamped Ed25519 cosignatures of checkpoints.

A cosignature is a signed-note signature line ``— <witness name> base64(key id || timestamp
|| signature)``: the key id is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]``, the
timestamp a big-endian u64 of POSIX seconds, and the Ed25519 signature covers
``"cosignature/v1\\ntime <timestamp>\\n"`` followed by the checkpoint body. A witness's
verifier key is ``<name>+<hex key id>+base64(0x04 || public key)``.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.errors import NoteError, QuorumError, SignatureError
from ledger.note import (
    ALG_COSIGNATURE_V1,
    SIGNATURE_PREFIX,
    VerifierKey,
    key_id,
    load_ed25519_pem,
    parse_note,
)

HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
FUTURE_SLACK = 60
"""Seconds a cosignature's timestamp may lie ahead of the verifier's clock."""


def signed_message(body: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: header line, time line, the checkpoint body."""
    if not 0 < timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is out of range")
    return f"{HEADER}time {timestamp}\n{body}".encode()


@dataclass(frozen=True, slots=True)
class CosignatureVerifier(VerifierKey):
    """A trusted witness: its name and Ed25519 public key (signature type 0x04)."""

    ALG: ClassVar[int] = ALG_COSIGNATURE_V1

    def verify(self, body: str, payload: bytes) -> int:
        """Check ``payload`` (timestamp || signature, the line's bytes after the key id) over
        the checkpoint ``body``; return its timestamp. Raises SignatureError."""
        if len(payload) != 8 + 64:
            raise SignatureError(
                f"cosignature of {self.name} has {len(payload)} bytes, expected 72"
            )
        timestamp: int = struct.unpack(">Q", payload[:8])[0]
        try:
            message = signed_message(body, timestamp)
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(payload[8:], message)
        except (InvalidSignature, NoteError) as exc:
            raise SignatureError(
                f"cosignature of {self.name}+{self.key_id.hex()} does not verify"
            ) from exc
        return timestamp


class CosignatureSigner:
    """A witness's signing key under its name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.name = name
        self.verifier = CosignatureVerifier(name, key_id(name, public, ALG_COSIGNATURE_V1), public)
        CosignatureVerifier.from_string(str(self.verifier))  # checks the name

    @classmethod
    def from_pem(cls, name: str, pem: bytes) -> CosignatureSigner:
        """Load an unencrypted PKCS#8 PEM Ed25519 private key (the bytes, not a path)."""
        return cls(name, load_ed25519_pem(pem, "the witness key"))

    def cosign(self, body: str, timestamp: int) -> str:
        """The cosignature line (with its newline) of ``body`` at ``timestamp``."""
        signature = self._key.sign(signed_message(body, timestamp))
        raw = self.verifier.key_id + struct.pack(">Q", timestamp) + signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(raw).decode('ascii')}\n"


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: which witness, when, and its note line."""

    witness: str
    timestamp: int
    line: str


def cosignatures(note: str, witnesses: Sequence[CosignatureVerifier]) -> list[Cosignature]:
    """The cosignatures in ``note`` from ``witnesses`` that verify over its text (one per
    witness; lines from other keys are ignored). Raises SignatureError when a line of a known
    witness does not verify, as signed-note requires, NoteError when the note is malformed."""
    text, signatures = parse_note(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    found: dict[str, Cosignature] = {}
    for sig in signatures:
        witness = known.get((sig.name, sig.key_id))
        if witness is None or witness.name in found:
            continue
        timestamp = witness.verify(text, sig.signature)
        raw = base64.b64encode(sig.key_id + sig.signature).decode("ascii")
        found[witness.name] = Cosignature(
            witness.name, timestamp, f"{SIGNATURE_PREFIX}{sig.name} {raw}\n"
        )
    return list(found.values())


def check_quorum(
    note: str,
    witnesses: Sequence[CosignatureVerifier],
    quorum: int,
    *,
    now: int,
    max_age: int | None = None,
) -> list[Cosignature]:
    """Require ``quorum`` valid cosignatures from distinct ``witnesses``, none dated after
    ``now`` (plus :data:`FUTURE_SLACK`) and, with ``max_age``, none older than ``max_age``
    seconds. Returns those counted; raises QuorumError naming every witness missing."""
    if quorum > len(witnesses):
        raise QuorumError(
            f"quorum {quorum} exceeds the {len(witnesses)} trusted witness(es)", missing=()
        )
    try:
        found = {c.witness: c for c in cosignatures(note, witnesses)}
    except SignatureError as exc:
        raise QuorumError(str(exc), missing=()) from exc
    counted: list[Cosignature] = []
    missing: list[str] = []
    for witness in witnesses:
        got = found.get(witness.name)
        if got is None:
            missing.append(f"{witness.name} (no cosignature)")
        elif got.timestamp > now + FUTURE_SLACK:
            missing.append(f"{witness.name} (dated {got.timestamp}, in the future)")
        elif max_age is not None and got.timestamp < now - max_age:
            missing.append(f"{witness.name} (dated {got.timestamp}, older than {max_age} s)")
        else:
            counted.append(got)
    if len(counted) < quorum:
        raise QuorumError(
            f"{len(counted)} valid cosignature(s) of the {quorum} required; missing: "
            + ", ".join(missing),
            missing=tuple(missing),
        )
    return counted


def add_cosignatures(note: str, lines: Sequence[str]) -> str:
    """``note`` with the cosignature ``lines`` appended after its signatures (each once)."""
    if not note.endswith("\n"):
        raise NoteError("note must end with a newline")
    present = set(note.splitlines(keepends=True))
    return note + "".join(line for line in dict.fromkeys(lines) if line not in present)
