"""The store's exceptions: one root, a few precise subclasses the API maps to HTTP.

``StoreUnavailableError`` (503: database down, connection lost, timeout, lock wait exceeded),
``SchemaOutdatedError`` (503 on ``/readyz``: migrations are not at head),
``ConflictError`` (409: a uniqueness or integrity rule refused the write).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import exc as sa_exc


class StoreError(Exception):
    """Any failure of the persistence layer (unexpected ones included)."""


class StoreUnavailableError(StoreError):
    """The database could not answer: unreachable, timed out, or the connection was lost."""


class SchemaOutdatedError(StoreError):
    """The database schema is not at the migration head; run ``vigie db upgrade``."""


class IndexMismatchError(StoreError):
    """A search column of ``ledger_entries`` disagrees with the signed header or payload it
    copies (``seq``, ``column``): searches on it could hide or invent entries."""

    def __init__(self, seq: int, column: str, stored: object, expected: object) -> None:
        super().__init__(
            f"seq {seq}: search column {column!r} holds {stored!r}, the entry says {expected!r}"
        )
        self.seq = seq
        self.column = column
        self._args = (seq, column, stored, expected)

    def __reduce__(self) -> tuple[type[IndexMismatchError], tuple[int, str, object, object]]:
        return IndexMismatchError, self._args  # raised in a verification worker process


class ConflictError(StoreError):
    """The write contradicts stored state (a uniqueness or foreign-key rule refused it)."""


def _summary(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    first = lines[0][:200] if lines else ""
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


def translate(exc: BaseException) -> StoreError:
    """The store error for a driver or SQLAlchemy exception. The message keeps only the
    driver's first line (never the SQL parameters, which may hold patient data)."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return StoreUnavailableError(f"database connection lost ({_summary(exc)})")
    if isinstance(exc, sa_exc.IntegrityError | sqlite3.IntegrityError | psycopg.IntegrityError):
        return ConflictError(f"the database refused the write ({_summary(exc)})")
    if isinstance(exc, _UNAVAILABLE):
        return StoreUnavailableError(f"database unavailable ({_summary(exc)})")
    return StoreError(f"database error ({_summary(exc)})")


_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
_DRIVER_ERRORS = (sa_exc.SQLAlchemyError, sqlite3.Error, psycopg.Error)


@contextmanager
def wrap_errors() -> Iterator[None]:
    """Re-raise any driver or SQLAlchemy error of the block as a :class:`StoreError` (once:
    store errors pass through unchanged), chained to the original."""
    try:
        yield
    except _DRIVER_ERRORS as exc:
        raise translate(exc) from exc
