"""The one exception tree of the ledger package.

Every failure the library detects is a subclass of :class:`LedgerError`, so the service can map
the whole package to HTTP in one table. Verifiers raise; they never return a bool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FaultKind = Literal[
    "modified",
    "deleted",
    "inserted",
    "reordered",
    "truncated",
    "forked",
    "bad_signature",
    "payload_mismatch",
]
FAULT_KINDS: frozenset[str] = frozenset(FaultKind.__args__)  # type: ignore[attr-defined]


class LedgerError(Exception):
    """Root of every error raised by :mod:`ledger`."""


class CanonicalJsonError(LedgerError):
    """A value cannot be canonicalised (RFC 8785) or a document is not strict JSON."""


class EntryError(LedgerError):
    """A draft, header or payload does not follow the v1 entry schema of LEDGER.md."""


class ProofError(LedgerError):
    """A Merkle computation or proof failed."""


class InclusionProofError(ProofError):
    """An inclusion proof does not prove the leaf under the root."""


class ConsistencyProofError(ProofError):
    """A consistency proof does not link the two roots."""


class MissingNodeError(ProofError):
    """The node store lacks a node the computation needs."""


class NoteError(LedgerError):
    """A signed note or verifier key is malformed."""


class SignatureError(NoteError):
    """No signature of the note verifies under the trusted key."""


class QuorumError(SignatureError):
    """Too few valid witness cosignatures; ``missing`` names each witness not counted."""

    def __init__(self, message: str, missing: tuple[str, ...]) -> None:
        super().__init__(message)
        self.missing = missing


class CheckpointError(LedgerError):
    """A checkpoint body is malformed, or signing it would break the log's promises."""


class InconsistentCheckpointError(CheckpointError):
    """Refused: the new checkpoint is not consistent with the last one signed."""


class LedgerStoreError(LedgerError):
    """A store refused an operation (e.g. an append that does not extend its head)."""


class LedgerFault(LedgerError):  # noqa: N818 (name fixed by the service contract)
    """Whole-ledger verification found the first fault.

    ``seq`` is the position (0-based, in stored order) of the faulty entry; for checkpoint
    faults, the last entry the checkpoint covers (``size - 1``), and for ``truncated`` the first
    missing seq. ``kind`` is one of :data:`FAULT_KINDS`.
    """

    def __init__(self, seq: int, kind: FaultKind, detail: str) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        super().__init__(f"seq {seq}: {kind}: {detail}")
        self.seq = seq
        self.kind: FaultKind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ExportFailure:
    """One failed check of an export bundle: ``entry`` is the position in ``entries`` (or None
    for bundle-level checks), ``seq`` the entry's claimed seq when known."""

    check: str
    detail: str
    entry: int | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = "bundle" if self.entry is None else f"entries[{self.entry}]"
        if self.seq is not None:
            where += f" (seq {self.seq})"
        return f"{where}: {self.check}: {self.detail}"


class ExportError(LedgerError):
    """An export bundle failed verification; ``failures`` lists every failed check."""

    def __init__(self, failures: list[ExportFailure]) -> None:
        if not failures:
            raise ValueError("ExportError needs at least one failure")
        lines = "\n".join(f"  - {f}" for f in failures)
        super().__init__(f"export bundle rejected, {len(failures)} failed check(s):\n{lines}")
        self.failures = tuple(failures)
