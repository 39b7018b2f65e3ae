"""The storage port of the ledger and an in-memory implementation.

:class:`ledger.writer.LedgerWriter` is the only writer of a :class:`LedgerStore`. The service
implements the port with SQLAlchemy (``models.ledger_store.SqlLedgerStore``: tables
``ledger_entries``, ``merkle_nodes(level, idx, hash)``, ``ledger_checkpoints``), every method
one batched query or one round trip; tests and benchmarks use :class:`InMemoryLedgerStore`.
``tests/ledger/store_contract.py`` holds the contract tests every implementation passes, driven
through the writer as the service drives it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ledger import merkle
from ledger.checkpoint import Checkpoint, SignedCheckpoint
from ledger.entry import Entry, LedgerHead, PatientHead
from ledger.errors import LedgerStoreError
from ledger.merkle import Node, NodeKey, NodeReader
from ledger.note import parse_note


@dataclass(frozen=True, slots=True)
class AppendReads:
    """What an append needs, read under the append lock: the ledger head, the chain tip of
    each patient it appends for that has entries, and the tree's frontier nodes
    (``merkle.frontier_keys`` of the head's size)."""

    head: LedgerHead
    patient_heads: dict[str, PatientHead]
    frontier: dict[NodeKey, bytes]


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A kept checkpoint: tree size, root hash, the signed note text, and when it was kept
    (None where the store does not record it: the in-memory store)."""

    size: int
    root: bytes
    note: str
    signed_at: datetime | None = None


class LedgerStore(NodeReader, Protocol):
    """What the ledger needs from storage. Appends must be serialised by the caller (one
    writer, e.g. a row lock or an advisory lock held for the transaction)."""

    def head(self) -> LedgerHead:
        """The number of entries and the last entry's leaf hash."""
        ...

    def append_reads(self, patient_refs: Collection[str]) -> AppendReads:
        """The head, the frontier nodes and the chain tips of ``patient_refs`` (patients
        without entries are left out), read together: one round trip on a SQL store. Raises
        LedgerStoreError if a frontier node is missing."""
        ...

    def append(self, entries: Sequence[Entry], nodes: Sequence[Node]) -> None:
        """Persist entries (seq = current size, size + 1, ...) and the new Merkle nodes, in
        the caller's transaction. Must refuse entries whose first seq is not the size."""
        ...

    def entries(self, from_seq: int, limit: int) -> Sequence[Entry]:
        """Up to ``limit`` stored entries with seq >= ``from_seq``, in seq order."""
        ...

    def entries_for_patient(self, patient_ref: str) -> Sequence[Entry]:
        """Every entry of one patient, in patient_seq order."""
        ...

    def nodes(self, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Stored Merkle nodes by (level, index); absent keys are left out."""
        ...

    def checkpoints(self) -> Sequence[str]:
        """Every signed checkpoint note, in signing order (the whole-ledger verification)."""
        ...

    def checkpoint_latest(self) -> StoredCheckpoint | None:
        """The checkpoint kept last, or None before the first one (what the writer resumes
        its signer from)."""
        ...

    def add_checkpoint(self, signed: SignedCheckpoint) -> None:
        """Keep a newly signed checkpoint."""
        ...

    def erase_patient(self, patient_ref: str) -> int:
        """Destroy payload and salt of every entry of that patient (headers stay); return how
        many entries still had a payload."""
        ...


class InMemoryLedgerStore:
    """A :class:`LedgerStore` in lists; tests and benchmarks use it (and tamper with
    ``records`` directly to simulate a dishonest operator)."""

    def __init__(self) -> None:
        self.records: list[Entry] = []
        self.levels: list[list[bytes]] = []
        self.notes: list[str] = []
        self._by_patient: dict[str, list[int]] = {}

    def head(self) -> LedgerHead:
        if not self.records:
            return LedgerHead(0, None)
        return LedgerHead(len(self.records), self.records[-1].leaf_hash)

    def append_reads(self, patient_refs: Collection[str]) -> AppendReads:
        head = self.head()
        keys = merkle.frontier_keys(head.size)
        frontier = self.nodes(keys)
        if len(frontier) != len(keys):
            raise LedgerStoreError(f"node store lacks frontier nodes of size {head.size}")
        heads: dict[str, PatientHead] = {}
        for ref in patient_refs:
            positions = self._by_patient.get(ref)
            if positions:
                last = self.records[positions[-1]]
                heads[ref] = PatientHead(len(positions) - 1, last.leaf_hash)
        return AppendReads(head, heads, frontier)

    def append(self, entries: Sequence[Entry], nodes: Sequence[Node]) -> None:
        size = len(self.records)
        for offset, entry in enumerate(entries):
            if entry.seq != size + offset:
                raise LedgerStoreError(f"append of seq {entry.seq} at size {size + offset}")
        levels = self.levels
        for level, index, digest in nodes:
            while len(levels) <= level:
                levels.append([])
            row = levels[level]
            if index != len(row):
                raise LedgerStoreError(f"node ({level}, {index}) appended at {len(row)}")
            row.append(digest)
        for entry in entries:
            if entry.patient_ref is not None:
                self._by_patient.setdefault(entry.patient_ref, []).append(entry.seq)
        self.records.extend(entries)

    def entries(self, from_seq: int, limit: int) -> list[Entry]:
        return self.records[from_seq : from_seq + limit]

    def entries_for_patient(self, patient_ref: str) -> list[Entry]:
        return [self.records[i] for i in self._by_patient.get(patient_ref, ())]

    def nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        levels = self.levels
        found: dict[NodeKey, bytes] = {}
        for key in keys:
            level, index = key
            if level < len(levels) and 0 <= index < len(levels[level]):
                found[key] = levels[level][index]
        return found

    def checkpoints(self) -> list[str]:
        return list(self.notes)

    def checkpoint_latest(self) -> StoredCheckpoint | None:
        if not self.notes:
            return None
        note = self.notes[-1]
        checkpoint = Checkpoint.parse(parse_note(note)[0])  # its signature: the writer's check
        return StoredCheckpoint(checkpoint.size, checkpoint.root, note)

    def add_checkpoint(self, signed: SignedCheckpoint) -> None:
        self.notes.append(signed.note)

    def erase_patient(self, patient_ref: str) -> int:
        erased = 0
        for i in self._by_patient.get(patient_ref, ()):
            record = self.records[i]
            if record.payload is not None or record.salt is not None:
                erased += 1
            self.records[i] = Entry(
                record.seq,
                record.header,
                None,
                None,
                record.leaf_hash,
                record.patient_ref,
                record.patient_seq,
            )
        return erased
