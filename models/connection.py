"""The database URL: which of the two supported backends it names, and its engine.

``sqlite:///path`` or ``postgresql+psycopg://`` (``postgresql://`` is taken to mean psycopg
3); each backend configures its engine for Vigie's transactions
(``models.backends.PostgreSQL.engine``, ``models.backends.SQLite.engine``).
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from models.backends import EngineLimits, backend_named
from models.errors import StoreError


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
    """An engine for ``url``, configured by its backend (``models.backends``).

    ``statement_timeout_ms`` (PostgreSQL; None = no limit) caps every statement;
    ``busy_timeout_ms`` (SQLite) is how long a writer waits for the database lock."""
    parsed = normalise_url(url)
    limits = EngineLimits(
        statement_timeout_ms, connect_timeout_s, busy_timeout_ms, pool_size, max_overflow
    )
    return backend_named(parsed.get_backend_name()).engine(parsed, limits)
