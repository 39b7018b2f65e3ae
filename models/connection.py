"""SQLAlchemy engines for the two supported backends, configured for Vigie's transactions.

SQLite (``sqlite:///path``): WAL journal, foreign keys on, a busy timeout, and SQLAlchemy
(not the driver) emits ``BEGIN``: ``BEGIN IMMEDIATE`` when the connection carries the
``vigie_sqlite_begin="IMMEDIATE"`` execution option, so writers serialise at the start of a
unit of work instead of failing at their first write.

PostgreSQL (``postgresql+psycopg://``; ``postgresql://`` is taken to mean psycopg 3):
no ``pool_pre_ping``, a connect timeout, a per-connection ``statement_timeout`` (which also
bounds waiting for the append lock) and ``jit=off``: Vigie's statements are index lookups,
and a big proof fetch whose estimated cost crosses ``jit_above_cost`` spent 44 ms compiling
to run in 120.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from models.backends import SQLITE_BEGIN
from models.errors import StoreError

_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; a bare ``postgresql://`` selects the psycopg 3 driver. Raises
    StoreError for an unsupported backend or an in-memory SQLite database (each pooled
    connection would see its own empty database)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.drivername != "postgresql+psycopg":
            raise StoreError(f"unsupported PostgreSQL driver {parsed.drivername!r}: use psycopg")
        return parsed
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed):
            raise StoreError("an in-memory SQLite database is not supported; use sqlite:///FILE")
        return parsed
    raise StoreError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def make_engine(
    url: str | URL,
    *,
    statement_timeout_ms: int | None = 5000,
    connect_timeout_s: int = 5,
    busy_timeout_ms: int = 5000,
    pool_size: int = 5,
    max_overflow: int = 10,
) -> Engine:
    """An engine for ``url`` configured as the module docstring says.

    ``statement_timeout_ms`` (PostgreSQL; None = no limit) caps every statement;
    ``busy_timeout_ms`` (SQLite) is how long a writer waits for the database lock."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_ms, pool_size, max_overflow)
    connect_args: dict[str, Any] = {
        "connect_timeout": connect_timeout_s,
        "application_name": "vigie",
    }
    options = ["-c jit=off"]
    if statement_timeout_ms is not None:
        options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
    connect_args["options"] = " ".join(options)
    # No pre-ping: it costs a round trip per checkout (11% of a decision's time). A connection
    # that died with the server fails its next statement instead; that request answers 503
    # and SQLAlchemy drops the whole pool, so the next one reconnects.
    return create_engine(
        parsed,
        pool_pre_ping=False,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args=connect_args,
    )


def _sqlite_engine(url: URL, busy_timeout_ms: int, pool_size: int, max_overflow: int) -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        if mode not in _BEGIN_MODES:
            raise StoreError(f"bad SQLite BEGIN mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
