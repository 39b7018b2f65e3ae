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


def make_engine(url: str | URL, limits: EngineLimits | None = None) -> Engine:
    """An engine for ``url``, configured by its backend (``models.backends``) within
    ``limits`` (None: the defaults of :class:`~models.backends.EngineLimits`)."""
    parsed = normalise_url(url)
    return backend_named(parsed.get_backend_name()).engine(parsed, limits or EngineLimits())
