"""What both paths of whole-ledger verification share: the state carried from chunk to chunk
(:class:`ScanState`) and the column shape in which stores hand chunks to the fast path
(:class:`Columns`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ledger.entry import Entry


@dataclass
class ScanState:
    """Verification state carried from chunk to chunk, advanced by the reference path one
    entry at a time and by the fast path one block at a time."""

    position: int = 0
    last_leaf: bytes | None = None
    patient_seqs: dict[bytes, int] = field(default_factory=dict)
    """Last patient_seq per patient, keyed by the header part ``patient_ref":"<hex>"``
    (ints and bytes only: the cyclic GC never has to look at them)."""
    patient_leaves: dict[bytes, bytes] = field(default_factory=dict)
    """The ``patient_prev":"<hex>"`` header part the next entry of each patient must hold (the
    leaf hash of the patient's last entry), same keys."""
    unjustified: dict[bytes, int] = field(default_factory=dict)
    """First erased seq of each patient with no erasure entry yet, same keys."""
    erased: int = 0


class Columns(NamedTuple):
    """A chunk of stored entries as columns (what the fast pass reads of them)."""

    headers: Sequence[bytes]
    payloads: Sequence[bytes | None]
    salts: Sequence[bytes | None]
    leaf_hashes: Sequence[bytes]

    @classmethod
    def of(cls, entries: Sequence[Entry]) -> Columns:
        return cls(
            [e.header for e in entries],
            [e.payload for e in entries],
            [e.salt for e in entries],
            [e.leaf_hash for e in entries],
        )

    def rows(self, start: int, stop: int) -> Columns:
        """Rows ``start`` to ``stop`` (excluded)."""
        return Columns(
            self.headers[start:stop],
            self.payloads[start:stop],
            self.salts[start:stop],
            self.leaf_hashes[start:stop],
        )
