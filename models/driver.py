"""The statements every decision runs, sent straight on the DB-API connection of a session.

A decision's transaction runs the same handful of plain statements every time: the append
lock, the facts, the patient heads, the Merkle frontier, the head update and the inserts.
Through SQLAlchemy each costs about 0.3 to 0.5 ms of CPU (compile-cache lookup, parameter and
result processing); on the driver about 0.05 ms. ``Driver`` runs them on the connection of
the session's own transaction, so they commit or roll back with everything else the unit of
work did through the ORM. The SQL is written once with ``:name`` parameters, as sqlite3 takes
them, and rewritten to psycopg's ``%(name)s`` for PostgreSQL.

On PostgreSQL, :meth:`Driver.batch` sends several statements in one round trip (psycopg's
pipeline mode); on SQLite (in-process, no round trip) it simply runs them in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from models.backends import Backend, backend_of
from models.base import as_utc

T = TypeVar("T")


def stored_time(moment: datetime, backend: Backend) -> datetime | str:
    """An aware datetime as ``models.base.UtcDateTime`` binds it: UTC; on SQLite the text
    SQLAlchemy's DateTime writes (so comparisons with values bound by SQLAlchemy hold)."""
    return backend.driver_time(as_utc(moment))


@dataclass(frozen=True, slots=True)
class Plan(Generic[T]):
    """Queries to send and how to read their rows, so that several plans can share one round
    trip (:meth:`Driver.run`)."""

    statements: Sequence[tuple[str, Mapping[str, Any]]]
    parse: Callable[[list[list[Any]]], T]


class Driver:
    """Plain statements on the DB-API connection under ``session``'s transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.backend = backend_of(session)

    def _connection(self) -> Any:
        driver = self.session.connection().connection.driver_connection
        assert driver is not None  # a live transaction has a driver connection
        return driver

    def rows(self, sql: str, parameters: Mapping[str, Any], *, binary: bool = False) -> list[Any]:
        """Every row of a query. ``binary=True`` asks PostgreSQL for its binary result format:
        bytea columns then arrive as raw bytes instead of hex text to decode (a bulk read of
        ledger entries takes about a third of the client CPU); ignored on SQLite."""
        connection = self._connection()
        if binary and self.backend.binary_results:
            cursor = connection.execute(self.backend.styled(sql), parameters, binary=True)
        else:
            cursor = connection.execute(self.backend.styled(sql), parameters)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def execute(self, sql: str, parameters: Mapping[str, Any]) -> int:
        """Run one statement; return its row count."""
        cursor = self._connection().execute(self.backend.styled(sql), parameters)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement once per parameter set in ``rows`` (nothing when empty)."""
        if not rows:
            return
        connection = self._connection()
        cursor = connection.cursor()
        try:
            cursor.executemany(self.backend.styled(sql), rows)
        finally:
            cursor.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Statements run inside are sent together and their results read at the end (one
        round trip on PostgreSQL). Inside, call only :meth:`execute` and :meth:`executemany`
        whose results are not needed before the block ends — :meth:`execute`'s row count
        is read when the block closes, so use :meth:`counted` for it."""
        if not self.backend.pipelines:
            yield
            return
        with self._connection().pipeline():
            yield

    def counted(self, sql: str, parameters: Mapping[str, Any]) -> Any:
        """Run a statement inside :meth:`batch`; return its cursor, whose ``rowcount`` is
        known once the block ended."""
        return self._connection().execute(self.backend.styled(sql), parameters)

    def queries(self, statements: Sequence[tuple[str, Mapping[str, Any]]]) -> list[list[Any]]:
        """Several queries in one round trip (PostgreSQL pipeline); their rows, in order."""
        connection = self._connection()
        if not self.backend.pipelines:
            return [self.rows(sql, parameters) for sql, parameters in statements]
        with connection.pipeline():
            cursors = [
                connection.execute(self.backend.styled(sql), parameters)
                for sql, parameters in statements
            ]
        try:
            return [list(cursor.fetchall()) for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()

    def run(self, *plans: Plan[Any]) -> list[Any]:
        """Every plan's statements in one round trip; each plan's parsed result, in order."""
        results = self.queries([statement for plan in plans for statement in plan.statements])
        out, at = [], 0
        for plan in plans:
            count = len(plan.statements)
            out.append(plan.parse(results[at : at + count]))
            at += count
        return out
