"""``Database``: the engine, units of work and the readiness check the API uses.

Typical use (one unit of work per request; the answer leaves only after it commits)::

    db = Database("sqlite:///vigie.db")            # or postgresql+psycopg://...
    db.check_ready()                               # /readyz
    with db.unit_of_work() as uow:                 # write: holds the append lock
        facts = uow.dossiers.facts(patient_id, actor, ids)
        ...                                        # decide, build entries
        uow.ledger.append(entries, nodes)
    with db.read_only() as uow:                    # public reads: checkpoint, proofs
        uow.ledger.checkpoint_latest()

Any driver or SQLAlchemy error escaping these context managers is a
:class:`~models.errors.StoreError` (``StoreUnavailableError`` when the database is down or
timed out, ``ConflictError`` for an integrity refusal), and the transaction is rolled back.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine.model import Actor, Facts
from ledger.entry import LedgerHead
from ledger.store import AppendReads
from ledger.verify import Columns
from models.backends import EngineLimits, backend_named
from models.connection import make_engine
from models.cosignature_store import SqlCosignatureStore
from models.directory import ProfessionalDirectory
from models.driver import Driver
from models.errors import SchemaOutdatedError, wrap_errors
from models.ledger_index import LedgerIndex
from models.ledger_store import HEAD_SQL, SqlLedgerStore
from models.repository import DossierRepository


def _forget_pool(engine: Engine | None) -> None:
    """In a forked child, drop the parent's pooled connections without closing them (they
    belong to the parent); the child opens its own."""
    if engine is not None:
        engine.dispose(close=False)


class UnitOfWork:
    """One transaction: its ``session``, the ledger store, the ledger's search columns, the
    dossier repository and the professional directory."""

    def __init__(self, session: Session, locked_head: LedgerHead | None = None) -> None:
        self.session = session
        self.ledger = SqlLedgerStore(session, locked_head)
        self.dossiers = DossierRepository(session)
        self.directory = ProfessionalDirectory(session)

    @cached_property
    def cosignatures(self) -> SqlCosignatureStore:
        """The witnesses' cosignatures of the checkpoints."""
        return SqlCosignatureStore(self.session)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this unit of work has committed (not on a rollback)."""
        event.listen(self.session, "after_commit", lambda _session: callback(), once=True)

    @cached_property
    def index(self) -> LedgerIndex:
        """The search columns (built on first use: most decisions never search)."""
        return LedgerIndex(self.session)

    def read_batch(
        self,
        facts: Sequence[tuple[str, Actor, Sequence[str] | None]] = (),
        patient_refs: Collection[str] = (),
    ) -> tuple[AppendReads, list[Facts]]:
        """In one round trip (PostgreSQL pipeline): what an append needs (ledger head,
        frontier, the heads of ``patient_refs``) and the facts of each (patient id, actor,
        document ids). Everything is as of now, under the append lock this unit holds."""
        reads, read_facts = Driver(self.session).run(
            self.ledger.append_plan(patient_refs), self.dossiers.facts_plan(facts)
        )
        return reads, read_facts


class Database:
    """Vigie's database at ``url`` (``sqlite:///FILE`` or ``postgresql+psycopg://...``).

    ``statement_timeout_ms`` caps each PostgreSQL statement, waiting for the append lock
    included (None: no cap); ``busy_timeout_ms`` is how long a SQLite writer waits for the
    lock. Creating it connects to nothing; call :meth:`check_ready` to find out. Units of
    work must not be nested on one thread (the inner one would wait for the outer's lock).
    A forked child (a granian worker) drops the inherited pool and opens its own."""

    def __init__(
        self,
        url: str,
        *,
        statement_timeout_ms: int | None = 5000,
        connect_timeout_s: int = 5,
        busy_timeout_ms: int = 5000,
        pool_size: int = 5,
        max_overflow: int = 10,
    ) -> None:
        limits = EngineLimits(
            statement_timeout_ms, connect_timeout_s, busy_timeout_ms, pool_size, max_overflow
        )
        self.engine: Engine = make_engine(url, limits)
        self.backend = backend_named(self.engine.dialect.name)
        engine = weakref.ref(self.engine)
        os.register_at_fork(after_in_child=lambda: _forget_pool(engine()))

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """A write transaction holding the ledger's append lock from its start to its commit
        (PostgreSQL: the ``ledger_heads`` row ``FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``).
        Commits on a clean exit, rolls back on an exception."""
        with self._transaction(write=True) as (session, head):
            yield UnitOfWork(session, head)

    @contextmanager
    def unlocked_write(self) -> Iterator[UnitOfWork]:
        """A write transaction without the append lock, for rows no append reads (the
        witnesses' cosignatures, the outbox's delivery state in ``models.outbox``): it never
        waits for, nor delays, a decision's transaction on PostgreSQL (SQLite has one writer
        at a time: its lock is held a moment)."""
        with self._transaction(write=True, lock=False) as (session, _):
            yield UnitOfWork(session)

    @contextmanager
    def read_only(self) -> Iterator[UnitOfWork]:
        """A read transaction (no lock; read-only on PostgreSQL) for public reads."""
        with self._transaction(write=False) as (session, _):
            yield UnitOfWork(session)

    @contextmanager
    def _transaction(
        self, *, write: bool, lock: bool = True
    ) -> Iterator[tuple[Session, LedgerHead | None]]:
        """The session of one transaction and, on PostgreSQL writes, the ledger head read
        while taking the append lock."""
        session = Session(self.engine, autoflush=False, expire_on_commit=False)
        head = None
        try:
            with wrap_errors():
                session.connection(execution_options=self.backend.begin_options(write=write))
                if write and lock and self.backend.locks_head_row:
                    head = self._lock(session)
                yield session, head
                session.commit()
        except BaseException:
            with contextlib.suppress(SQLAlchemyError):
                session.rollback()
            raise
        finally:
            with contextlib.suppress(SQLAlchemyError):
                session.close()

    @staticmethod
    def _lock(session: Session) -> LedgerHead:
        rows = Driver(session).rows(HEAD_SQL + " FOR UPDATE", {})
        if not rows:
            raise SchemaOutdatedError("ledger_heads has no row 1: run `vigie db upgrade`")
        return LedgerHead(rows[0][0], rows[0][1])

    def check_ready(self) -> None:
        """Raise StoreUnavailableError if the database cannot be reached, SchemaOutdatedError
        if its migrations are not at head; return None when ready."""
        with wrap_errors(), self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        from models import migrate  # noqa: PLC0415 (alembic: 0.5 s to import, needed only here)

        current, head = migrate.current_revision(self.engine), migrate.head_revision()
        if current != head:
            raise SchemaOutdatedError(
                f"database schema is at {current or 'nothing'}, the code needs {head}: "
                "run `vigie db upgrade`"
            )

    def upgrade(self) -> None:
        """Migrate this database to the head revision (see :func:`models.migrate.upgrade`),
        over a connection of its own without the statement timeout."""
        from models import migrate  # noqa: PLC0415

        migrate.upgrade(self.engine.url)

    def dispose(self) -> None:
        """Close every pooled connection (call at shutdown, and after a fork)."""
        self.engine.dispose()

    def ledger_reader(self, *, search_columns: bool = False) -> LedgerReader:
        """A :data:`ledger.verify.ChunkReader` over this database, for worker processes; with
        ``search_columns``, each also checks the search columns of the rows it reads."""
        url = self.engine.url.render_as_string(hide_password=False)
        return LedgerReader(url, search_columns)


_readers: dict[str, Database] = {}
"""The database each worker process reads through, by URL (opened on first use)."""


@dataclass(frozen=True)
class LedgerReader:
    """Reads ledger chunks in a worker process of a parallel verification: picklable (only
    the URL travels); each process opens one :class:`Database` and reads each chunk in a
    read-only unit of work of its own."""

    url: str = field(repr=False)  # may hold a password
    search_columns: bool = False
    """Also check the search columns of the rows read (``LedgerIndex.checked_columns``):
    an IndexMismatchError then reaches the verifying process with the chunk's result."""

    def __call__(self, first: int, limit: int) -> Columns:
        database = _readers.get(self.url)
        if database is None:
            database = _readers[self.url] = Database(self.url, statement_timeout_ms=None)
        with database.read_only() as uow:
            if self.search_columns:
                return uow.index.checked_columns(first, limit)
            return uow.ledger.entry_columns(first, limit)
