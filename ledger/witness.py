"""The checks a C2SP tlog-witness makes on ``add-checkpoint`` (c2sp.org/tlog-witness).

Request body: ``old <size>`` line, zero to 63 base64 consistency proof lines, an empty line,
then the signed checkpoint note. :func:`judge` takes the witness's current record for the
origin and either returns the checkpoint to cosign or raises :class:`AddCheckpointError` with the
HTTP status the protocol prescribes: 400 malformed, 404 unknown origin, 403 no valid log
signature, 409 old size is not the recorded size (with that size), 422 bad proof. The caller
runs it and stores the new record atomically (two requests must not roll the record back).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ledger import hashing, merkle
from ledger.checkpoint import Checkpoint
from ledger.errors import CheckpointError, ConsistencyProofError, LedgerError, NoteError
from ledger.note import NoteVerifier, open_note, parse_note

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"


class AddCheckpointError(LedgerError):
    """The witness does not cosign: ``status`` is the HTTP code, ``size`` the recorded size
    (for 409)."""

    def __init__(self, status: int, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """A parsed add-checkpoint request."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def encode(self) -> bytes:
        """The request body (what a log POSTs)."""
        lines = [f"old {self.old_size}"] + [base64.b64encode(h).decode() for h in self.proof]
        return ("\n".join(lines) + "\n\n" + self.note).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Record:
    """What a witness keeps per origin: the latest cosigned size and root."""

    size: int
    root: bytes


def _decimal(text: str) -> int:
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise AddCheckpointError(400, f"{text!r} is not a decimal size without leading zeros")
    return int(text)


def origin_of(request: AddCheckpoint) -> str:
    """The origin line of the request's checkpoint; raises AddCheckpointError(400)."""
    try:
        return Checkpoint.parse(parse_note(request.note)[0]).origin
    except (NoteError, CheckpointError) as exc:
        raise AddCheckpointError(400, f"malformed checkpoint: {exc}") from None


def parse_request(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint body; raises AddCheckpointError(400) when malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise AddCheckpointError(400, "request body is not UTF-8") from None
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise AddCheckpointError(400, "request body has no empty line before the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        raise AddCheckpointError(400, "request body must start with an 'old <size>' line")
    old_size = _decimal(lines[0][4:])
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise AddCheckpointError(400, f"{len(lines) - 1} proof lines, at most {MAX_PROOF_LINES}")
    proof = []
    for line in lines[1:]:
        try:
            digest = binascii.a2b_base64(line, strict_mode=True)
        except (binascii.Error, ValueError):
            raise AddCheckpointError(400, f"proof line {line[:60]!r} is not base64") from None
        if len(digest) != hashing.HASH_SIZE:
            raise AddCheckpointError(400, f"proof line {line[:60]!r} is not a 32-byte hash")
        proof.append(digest)
    return AddCheckpoint(old_size, tuple(proof), note)


def judge(
    request: AddCheckpoint,
    logs: Mapping[str, Sequence[NoteVerifier]],
    record: Record | None,
) -> Checkpoint:
    """Apply tlog-witness's checks to ``request`` given the trusted log keys by origin and
    the witness's ``record`` for the request's origin (None: never cosigned). Returns the
    checkpoint to cosign and record; raises AddCheckpointError otherwise."""
    origin_of(request)
    checkpoint = Checkpoint.parse(parse_note(request.note)[0])
    trusted = logs.get(checkpoint.origin)
    if trusted is None:
        raise AddCheckpointError(404, f"unknown log origin {checkpoint.origin!r}")
    try:
        open_note(request.note, trusted)
    except NoteError as exc:
        raise AddCheckpointError(403, f"no valid signature by the log's key: {exc}") from None
    if request.old_size > checkpoint.size:
        raise AddCheckpointError(
            400, f"old size {request.old_size} exceeds the checkpoint size {checkpoint.size}"
        )
    current = record.size if record is not None else 0
    if request.old_size != current:
        raise AddCheckpointError(
            409, f"old size {request.old_size} is not the cosigned size {current}", current
        )
    if checkpoint.size == 0 and checkpoint.root != hashing.EMPTY_ROOT:
        raise AddCheckpointError(422, "a checkpoint of size 0 must have the empty tree's root")
    if request.old_size == 0:
        if request.proof:
            raise AddCheckpointError(422, "old size 0 takes an empty consistency proof")
        return checkpoint
    assert record is not None  # old_size == record.size > 0
    if checkpoint.size == record.size:
        if checkpoint.root != record.root or request.proof:
            raise AddCheckpointError(422, f"a different tree of the cosigned size {record.size}")
        return checkpoint
    try:
        merkle.verify_consistency(
            record.size, checkpoint.size, request.proof, record.root, checkpoint.root
        )
    except ConsistencyProofError as exc:
        raise AddCheckpointError(
            422, f"not consistent with the cosigned size {record.size}: {exc}"
        ) from None
    return checkpoint
