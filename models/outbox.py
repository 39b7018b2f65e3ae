"""The notification outbox seen by its relay: pending rows in commit order, their delivery
state, and the backlog.

Rows are written by the decision's own transaction (``DossierRepository.add_notifications``),
under the ledger's append lock, so their ids grow in commit order: reading pending rows by id
is reading them in the order their entries were committed, across every dossier.

Claiming a batch (:meth:`SqlOutbox.claim`):

- PostgreSQL: one transaction without the append lock. The rows are read
  ``FOR UPDATE OF notifications SKIP LOCKED``, published, marked delivered and committed
  together: several relays take disjoint batches, and a relay that dies releases its rows
  (its transaction rolls back) for the next one. Decisions never wait for it (they insert
  new rows; they do not touch pending ones).
- SQLite: the rows are read in a read transaction that ends at once, and marked delivered in
  a short ``BEGIN IMMEDIATE`` transaction after the broker confirmed them, so that the
  database's single write lock is never held while publishing. SQLite has no row locks: two
  relays on one SQLite file would both publish the same rows (duplicates with the same
  ``message_id``, never a loss). Run one relay per SQLite database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ledger.canonical import parse_trusted
from models.base import read_time
from models.database import Database
from models.table import DocumentRow, LedgerEntryRow, NotificationRow

PENDING, DELIVERED = "pending", "delivered"
DETAIL_KEYS = ("actor_id", "actor_name", "actor_profession", "document_type", "justification")
"""The payload fields of the causing entry a notice may quote (``api.notice``)."""

_N, _E = NotificationRow, LedgerEntryRow


@dataclass(frozen=True, slots=True)
class PendingNotification:
    """One undelivered outbox row with what its message needs from the entry that caused it:
    ``patient_ref``, the entry's ``time`` and ``mode``, and ``details`` (the entry payload's
    :data:`DETAIL_KEYS` that are present; empty once the payload was erased)."""

    id: int
    patient_id: str
    patient_ref: str | None
    type: str
    recipients: tuple[str, ...]
    document_id: str | None
    entry_seq: int
    entry_time: datetime
    mode: str
    created_at: datetime
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Pending rows and the creation time of the oldest (None when there is none)."""

    rows: int
    oldest: datetime | None


class Claim:
    """A batch of pending rows; :meth:`delivered` marks the confirmed ones."""

    def __init__(self, items: list[PendingNotification], session: Session | None, db: Database):
        self.items = items
        self._session = session
        self._database = db

    def delivered(self, ids: Sequence[int], now: datetime) -> None:
        """Mark ``ids`` delivered at ``now`` (only rows still pending: a row another relay
        already marked keeps its first time). PostgreSQL: in the claim's own transaction,
        committed when the claim closes; SQLite: committed now."""
        if not ids:
            return
        statement = (
            update(_N)
            .where(_N.id.in_(list(ids)), _N.status == PENDING)
            .values(status=DELIVERED, delivered_at=now)
            .execution_options(synchronize_session=False)
        )
        if self._session is not None:
            self._session.execute(statement)
            return
        with self._database.unlocked_write() as uow:
            session = uow.session
            session.execute(statement)


class SqlOutbox:
    """The outbox of ``database`` (see the module docstring for how claims lock)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @contextmanager
    def claim(self, limit: int) -> Iterator[Claim]:
        """At most ``limit`` pending rows, oldest first. Precondition: ``limit`` >= 1.
        Raises ``StoreError`` (``StoreUnavailableError`` when the database is down)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        query = _pending_query(limit)
        if self.database.backend.skips_locked_rows:
            with self.database.unlocked_write() as uow:
                session = uow.session
                locked = query.with_for_update(skip_locked=True, of=_N)
                items = [_pending(row) for row in session.execute(locked)]
                yield Claim(items, session, self.database)
            return
        with self.database.read_only() as uow:
            items = [_pending(row) for row in uow.session.execute(query)]
        yield Claim(items, None, self.database)

    def backlog(self) -> Backlog:
        """How many rows wait and since when (the partial index of pending rows answers)."""
        with self.database.read_only() as uow:
            rows, oldest = uow.session.execute(
                select(func.count(), func.min(_N.created_at)).where(_N.status == PENDING)
            ).one()
        return Backlog(int(rows), read_time(oldest))


def _pending_query(limit: int) -> Any:
    return (
        select(
            _N.id,
            _N.patient_id,
            _E.patient_ref,
            _N.type,
            _N.recipients,
            _N.document_id,
            _N.entry_seq,
            _E.time,
            _E.mode,
            _N.created_at,
            _E.payload,
            DocumentRow.invisible_to_patient,
        )
        .join(_E, _E.seq == _N.entry_seq)
        .outerjoin(
            DocumentRow,
            (DocumentRow.patient_id == _N.patient_id) & (DocumentRow.document_id == _N.document_id),
        )
        .where(_N.status == PENDING)
        .order_by(_N.id)
        .limit(limit)
    )


def _pending(row: Any) -> PendingNotification:
    payload = parse_trusted(row[10]) if row[10] is not None else {}
    details = {k: str(payload[k]) for k in DETAIL_KEYS if payload.get(k) not in (None, "")}
    if row[11]:  # a document the patient may not see yet: its notice does not say its type
        details.pop("document_type", None)
    return PendingNotification(
        id=row[0],
        patient_id=row[1],
        patient_ref=row[2],
        type=row[3],
        recipients=tuple(row[4]),
        document_id=row[5],
        entry_seq=row[6],
        entry_time=row[7],
        mode=row[8],
        created_at=row[9],
        details=details,
    )
