"""What the use cases (``api.service``) need from the database, as protocols.

The service is written against these, not against ``models.database``: a unit of work that
holds the append lock (:class:`WriteUnit`) and the database that opens one
(:class:`UnitsOfWork`). ``models.database.Database`` and ``UnitOfWork`` are the
implementations (mypy checks it where ``api.app.create_app`` wires them). The service is
generic over the database's type, so that the routes, which read through more of it, keep
the concrete one (``Service[Database]``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, Unpack

from engine.model import Actor, Facts, Obligation
from ledger.store import AppendReads, LedgerStore, StoredCheckpoint
from models.ledger_index import SearchFilters

__all__ = [
    "AppendReads",
    "DirectoryWrites",
    "DossierPort",
    "LedgerPort",
    "RecentCounts",
    "UnitsOfWork",
    "WriteUnit",
]


class DossierPort(Protocol):
    """The dossier state a decision reads and records (``DossierRepository``)."""

    def facts(
        self, patient_id: str, actor: Actor, document_ids: Sequence[str] | None = None
    ) -> Facts: ...

    def record_access(self, patient_id: str, ps_id: str, now: datetime) -> bool: ...

    def add_notifications(
        self,
        patient_id: str,
        obligations: Sequence[Obligation],
        entry_seq: int,
        document_id: str | None,
        now: datetime,
    ) -> None: ...

    def purge(self, patient_id: str) -> bool: ...


class LedgerPort(LedgerStore, Protocol):
    """The ledger store of the unit's transaction (``SqlLedgerStore``)."""

    def checkpoint_latest(self) -> StoredCheckpoint | None: ...


class RecentCounts(Protocol):
    """The counts of the search columns the rate limits read (``LedgerIndex``)."""

    def count(self, **filters: Unpack[SearchFilters]) -> int: ...


class DirectoryWrites(Protocol):
    """The professional directory a commit updates (``ProfessionalDirectory``)."""

    def remember(self, actors: Sequence[Actor], now: datetime) -> None: ...


class WriteUnit(Protocol):
    """One write transaction holding the ledger's append lock (``UnitOfWork``)."""

    @property
    def dossiers(self) -> DossierPort: ...

    @property
    def ledger(self) -> LedgerPort: ...

    @property
    def index(self) -> RecentCounts: ...

    @property
    def directory(self) -> DirectoryWrites: ...

    def read_batch(
        self,
        facts: Sequence[tuple[str, Actor, Sequence[str] | None]] = (),
        patient_refs: Collection[str] = (),
    ) -> tuple[AppendReads, list[Facts]]: ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...


class UnitsOfWork(Protocol):
    """The database: opens write units of work (``Database``)."""

    def unit_of_work(self) -> AbstractContextManager[WriteUnit]: ...
