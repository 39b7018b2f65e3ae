"""What differs between the two supported databases, in one place: one class per backend.

Everything else in ``models/`` writes its SQL once and asks the backend of its session
(:func:`backend_of`) for the few fragments and behaviours that differ: how a list of values
is bound and tested (``= ANY(:ids)`` against ``json_each``), the statements whose plans
differ (the patients' chain heads, stored Merkle nodes by key), the parameter style, how a
timestamp is bound, upserts, how a write transaction takes the append lock (the
``ledger_heads`` row ``FOR UPDATE`` against ``BEGIN IMMEDIATE``), and what only PostgreSQL
has (pipelines, binary results, ``COPY``, ``SKIP LOCKED``). The backend is chosen once, from
the engine's dialect name; nothing else compares that name.

The URL parsing lives in ``models.connection``; the schema's per-backend options (partial
indexes, ``WITHOUT ROWID``) in ``models.table`` and the migrations.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from models.errors import StoreError

SQLITE_BEGIN = "vigie_sqlite_begin"
"""The execution option naming the ``BEGIN`` mode of a SQLite transaction (see
:class:`SQLite`)."""

_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
_NAMED = re.compile(r"(?<!:):([a-z_]+)")
NodeKeys = Sequence[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """How long and how many: ``statement_timeout_ms`` (PostgreSQL; None = no limit) caps
    every statement, ``busy_timeout_ms`` (SQLite) is how long a writer waits for the lock."""

    statement_timeout_ms: int | None = 5000
    connect_timeout_s: int = 5
    busy_timeout_ms: int = 5000
    pool_size: int = 5
    max_overflow: int = 10


class Backend(ABC):
    """The differences of one database; the subclasses fill every attribute and implement
    every abstract method (a backend missing one cannot be built)."""

    name: ClassVar[str]
    pipelines: ClassVar[bool]
    """Several statements go in one round trip (psycopg's pipeline mode)."""
    binary_results: ClassVar[bool]
    """Results can come in binary format (bytea as raw bytes, no hex to decode)."""
    bulk_copy: ClassVar[bool]
    """``COPY FROM STDIN`` loads many rows faster than ``executemany``."""
    nodes_by_level: ClassVar[bool]
    """Many stored Merkle nodes are read faster level by level (one index scan each)."""
    locks_head_row: ClassVar[bool]
    """The append lock is the ``ledger_heads`` row ``FOR UPDATE`` (else the transaction's
    ``BEGIN IMMEDIATE`` is the lock: one writer at a time)."""
    skips_locked_rows: ClassVar[bool]
    """``FOR UPDATE SKIP LOCKED`` lets concurrent relays claim disjoint outbox rows."""
    patient_heads_sql: ClassVar[str]
    """Each of ``:refs`` (see :meth:`listed`): its last entry's patient_ref, patient_seq and
    leaf_hash, one index probe per patient."""
    heads_before_sql: ClassVar[str]
    """Each of ``:refs``: its last whole entry of seq < ``:size``."""
    _insert: ClassVar[Any]

    @abstractmethod
    def engine(self, url: URL, limits: EngineLimits) -> Engine:
        """An engine for ``url`` (already normalised), configured for Vigie's transactions."""

    def styled(self, sql: str) -> str:
        """``sql``, written with ``:name`` parameters, in the driver's parameter style."""
        return sql

    @abstractmethod
    def in_list(self, parameter: str) -> str:
        """The SQL tail testing that a value is one of the list bound as ``parameter``."""

    @abstractmethod
    def listed(self, values: Collection[str]) -> Any:
        """``values`` (sorted, without repeats) as :meth:`in_list` binds them."""

    def column_time(self, moment: datetime) -> datetime:
        """A UTC datetime as SQLAlchemy's DateTime column is given it."""
        return moment

    def driver_time(self, moment: datetime) -> datetime | str:
        """A UTC datetime as the driver binds it for a DateTime column."""
        return moment

    @abstractmethod
    def nodes_by_key(self, keys: NodeKeys) -> tuple[str, Mapping[str, Any]]:
        """A query of (level, idx, hash) for the sorted, distinct ``keys``; hash None or the
        row left out when absent."""

    @abstractmethod
    def begin_options(self, *, write: bool) -> dict[str, Any]:
        """The execution options that start a transaction as Vigie wants it."""

    def insert(self, table: Table) -> Any:
        """An INSERT of ``table`` that takes ``on_conflict_do_nothing``/``_do_update``."""
        return self._insert(table)


class PostgreSQL(Backend):
    """PostgreSQL through psycopg 3.

    Its engine: no ``pool_pre_ping``, a connect timeout, a per-connection
    ``statement_timeout`` (which also bounds waiting for the append lock) and ``jit=off``:
    Vigie's statements are index lookups, and a big proof fetch whose estimated cost crosses
    ``jit_above_cost`` spent 44 ms compiling to run in 120."""

    name = "postgresql"
    pipelines = binary_results = bulk_copy = nodes_by_level = True
    locks_head_row = skips_locked_rows = True
    patient_heads_sql = (
        "SELECT e.patient_ref, e.patient_seq, e.leaf_hash"
        " FROM unnest(CAST(:refs AS varchar[])) AS r(ref)"
        " CROSS JOIN LATERAL (SELECT patient_ref, patient_seq, leaf_hash FROM ledger_entries"
        " WHERE patient_ref = r.ref ORDER BY patient_seq DESC LIMIT 1) AS e"
    )
    heads_before_sql = (
        "SELECT e.seq, e.header, e.payload, e.salt, e.leaf_hash, e.patient_ref, e.patient_seq"
        " FROM unnest(CAST(:refs AS text[])) AS r(ref)"
        " CROSS JOIN LATERAL (SELECT * FROM ledger_entries WHERE patient_ref = r.ref"
        " AND seq < :size ORDER BY patient_seq DESC LIMIT 1) AS e"
    )
    # Each key is one index probe (a scalar subquery, NULL when absent): a join let the
    # planner hash the whole table, a full scan per export. The keys travel as two
    # comma-separated texts, several times cheaper to send than two int arrays.
    _NODES_BY_KEY = (
        "SELECT k.level, k.idx,"
        " (SELECT n.hash FROM merkle_nodes AS n WHERE n.level = k.level AND n.idx = k.idx)"
        " FROM unnest(CAST(string_to_array(:levels, ',') AS smallint[]),"
        " CAST(string_to_array(:idxs, ',') AS bigint[])) AS k(level, idx)"
    )
    _insert = staticmethod(postgresql.insert)

    def engine(self, url: URL, limits: EngineLimits) -> Engine:
        options = ["-c jit=off"]
        if limits.statement_timeout_ms is not None:
            options.append(f"-c statement_timeout={int(limits.statement_timeout_ms)}")
        connect_args: dict[str, Any] = {
            "connect_timeout": limits.connect_timeout_s,
            "application_name": "vigie",
            "options": " ".join(options),
        }
        # No pre-ping: it costs a round trip per checkout (11% of a decision's time). A
        # connection that died with the server fails its next statement instead; that
        # request answers 503 and SQLAlchemy drops the whole pool, so the next one reconnects.
        return create_engine(
            url,
            pool_pre_ping=False,
            pool_size=limits.pool_size,
            max_overflow=limits.max_overflow,
            connect_args=connect_args,
        )

    def styled(self, sql: str) -> str:
        return _psycopg_style(sql)

    def in_list(self, parameter: str) -> str:
        return f" = ANY(:{parameter})"

    def listed(self, values: Collection[str]) -> Any:
        return sorted(set(values))

    def nodes_by_key(self, keys: NodeKeys) -> tuple[str, Mapping[str, Any]]:
        levels = ",".join([str(level) for level, _ in keys])
        idxs = ",".join([str(idx) for _, idx in keys])
        return self._NODES_BY_KEY, {"levels": levels, "idxs": idxs}

    def begin_options(self, *, write: bool) -> dict[str, Any]:
        return {} if write else {"postgresql_readonly": True}


class SQLite(Backend):
    """SQLite through the standard library's sqlite3, in process (no round trips).

    Its engine: WAL journal, foreign keys on, a busy timeout, and SQLAlchemy (not the driver)
    emits ``BEGIN``: ``BEGIN IMMEDIATE`` when the connection carries the
    ``vigie_sqlite_begin="IMMEDIATE"`` execution option (:meth:`begin_options`), so writers
    serialise at the start of a unit of work instead of failing at their first write."""

    name = "sqlite"
    pipelines = binary_results = bulk_copy = nodes_by_level = False
    locks_head_row = skips_locked_rows = False
    patient_heads_sql = (
        "SELECT e.patient_ref, e.patient_seq, e.leaf_hash"
        " FROM json_each(:refs) AS r JOIN ledger_entries AS e ON e.patient_ref = r.value"
        " AND e.patient_seq = (SELECT max(m.patient_seq) FROM ledger_entries AS m"
        " WHERE m.patient_ref = r.value)"
    )
    heads_before_sql = (
        "SELECT e.seq, e.header, e.payload, e.salt, e.leaf_hash, e.patient_ref, e.patient_seq"
        " FROM json_each(:refs) AS r JOIN ledger_entries AS e"
        " ON e.seq = (SELECT max(seq) FROM ledger_entries"
        " WHERE patient_ref = r.value AND seq < :size)"
    )
    _NODES_BY_KEY = (
        "SELECT n.level, n.idx, n.hash FROM json_each(:keys) AS k JOIN merkle_nodes AS n"
        " ON n.level = json_extract(k.value, '$[0]') AND n.idx = json_extract(k.value, '$[1]')"
    )
    _insert = staticmethod(sqlite.insert)

    def engine(self, url: URL, limits: EngineLimits) -> Engine:
        engine = create_engine(
            url,
            pool_size=limits.pool_size,
            max_overflow=limits.max_overflow,
            connect_args={"timeout": limits.busy_timeout_ms / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute(f"PRAGMA busy_timeout={int(limits.busy_timeout_ms)}")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
            if mode not in _BEGIN_MODES:
                raise StoreError(f"bad SQLite BEGIN mode {mode!r}")
            connection.exec_driver_sql(f"BEGIN {mode}")

        return engine

    def in_list(self, parameter: str) -> str:
        return f" IN (SELECT value FROM json_each(:{parameter}))"  # noqa: S608 (a bind name)

    def listed(self, values: Collection[str]) -> Any:
        return json.dumps(sorted(set(values)))

    def column_time(self, moment: datetime) -> datetime:
        return moment.replace(tzinfo=None)  # the UTC wall time, without an offset

    def driver_time(self, moment: datetime) -> datetime | str:
        # the text SQLAlchemy's DateTime writes, so comparisons with its values hold
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")

    def nodes_by_key(self, keys: NodeKeys) -> tuple[str, Mapping[str, Any]]:
        return self._NODES_BY_KEY, {"keys": json.dumps([list(key) for key in keys])}

    def begin_options(self, *, write: bool) -> dict[str, Any]:
        return {SQLITE_BEGIN: "IMMEDIATE" if write else "DEFERRED"}


_BACKENDS: dict[str, Backend] = {b.name: b for b in (PostgreSQL(), SQLite())}


def backend_named(name: str) -> Backend:
    """The backend of a SQLAlchemy dialect name. Raises KeyError for another database
    (``models.connection.normalise_url`` refuses those first)."""
    return _BACKENDS[name]


def backend_of(session: Session) -> Backend:
    """The backend ``session`` is bound to."""
    return _BACKENDS[session.get_bind().dialect.name]


@lru_cache(maxsize=256)
def _psycopg_style(sql: str) -> str:
    return _NAMED.sub(r"%(\1)s", sql)
