"""Witness cosignatures kept beside the checkpoints (table ``ledger_cosignatures``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from models.base import UtcDateTime
from models.table import CheckpointRow, CosignatureRow

_C = CosignatureRow
_ADD = text(
    "INSERT INTO ledger_cosignatures (size, witness, line, cosigned_at, received_at)"
    " VALUES (:size, :witness, :line, :cosigned_at, :received_at)"
    " ON CONFLICT (size, witness) DO NOTHING"
).bindparams(bindparam("received_at", type_=UtcDateTime()))


class SqlCosignatureStore:
    """Reads and writes ``ledger_cosignatures`` in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, size: int, witness: str, line: str, cosigned_at: int) -> None:
        """Keep ``witness``'s cosignature line of the checkpoint of ``size`` (the first one
        received stays: a witness cosigns a size again only with the same root)."""
        self.session.execute(
            _ADD,
            {
                "size": size,
                "witness": witness,
                "line": line,
                "cosigned_at": cosigned_at,
                "received_at": datetime.now(UTC),
            },
        )

    def lines(self, size: int) -> list[str]:
        """The cosignature lines of the checkpoint of ``size``, by witness name."""
        query = select(_C.line).where(_C.size == size).order_by(_C.witness)
        return list(self.session.scalars(query))

    def latest_cosigned(self, quorum: int) -> tuple[str, list[str]] | None:
        """The newest checkpoint with at least ``quorum`` cosignatures stored: its note and
        their lines (None before the first)."""
        size = self.session.scalar(
            select(_C.size)
            .group_by(_C.size)
            .having(func.count() >= quorum)
            .order_by(_C.size.desc())
            .limit(1)
        )
        if size is None:
            return None
        note = self.session.scalar(
            select(CheckpointRow.note).where(CheckpointRow.size == size).limit(1)
        )
        return None if note is None else (str(note), self.lines(int(size)))

    def latest(self) -> dict[str, tuple[int, int]]:
        """Per witness: the largest size it cosigned and that cosignature's timestamp."""
        largest = (
            select(_C.witness, func.max(_C.size).label("size")).group_by(_C.witness).subquery()
        )
        query = select(_C.witness, _C.size, _C.cosigned_at).join(
            largest, (largest.c.witness == _C.witness) & (largest.c.size == _C.size)
        )
        return {str(w): (int(s), int(t)) for w, s, t in self.session.execute(query)}
