"""A witness's own state: per log origin, the latest cosigned size, root and note, in an
SQLite file of its own (never the log's database).

:meth:`WitnessStore.advance` runs the check and the update in one ``BEGIN IMMEDIATE``
transaction, which holds SQLite's write lock from the read on: two requests (threads or
processes) are serialised, so one cannot roll back what another recorded. The file is in
WAL mode with ``synchronous=FULL``: a record is on disk before the cosignature leaves, and a
killed witness restarts with every checkpoint it ever answered for.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ledger.witness import Record

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS witnessed_logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    note TEXT NOT NULL,
    updated_at REAL NOT NULL
)
"""


class WitnessStore:
    """The records of one witness, in the SQLite file at ``path`` (created if absent)."""

    def __init__(self, path: Path | str, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")
        return db

    def record(self, origin: str) -> Record | None:
        """The latest cosigned (size, root) for ``origin``, or None."""
        row = self._row("size, root", origin)
        return None if row is None else Record(int(row[0]), bytes(row[1]))

    def note(self, origin: str) -> str | None:
        """The latest cosigned checkpoint note (log signature and cosignature), or None."""
        row = self._row("note", origin)
        return None if row is None else str(row[0])

    def _row(self, columns: str, origin: str) -> tuple[Any, ...] | None:
        """``columns`` of ``origin``'s row (None: not witnessed yet), on a connection of its
        own."""
        db = self._connect()
        try:
            row: tuple[Any, ...] | None = db.execute(
                f"SELECT {columns} FROM witnessed_logs WHERE origin = ?",  # noqa: S608 (ours)
                (origin,),
            ).fetchone()
        finally:
            db.close()
        return row

    def advance(self, origin: str, decide: Callable[[Record | None], tuple[Record, str, T]]) -> T:
        """Atomically: read the record of ``origin``, call ``decide(record)`` (which raises to
        refuse, or returns the new record, the note to keep and a result), write it, commit;
        return the result. Nothing is written when ``decide`` raises."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT size, root FROM witnessed_logs WHERE origin = ?", (origin,)
                ).fetchone()
                current = None if row is None else Record(int(row[0]), bytes(row[1]))
                new, note, result = decide(current)
                if current is not None and new.size < current.size:
                    raise AssertionError("a witness record never goes back")  # judge's promise
                db.execute(
                    "INSERT INTO witnessed_logs (origin, size, root, note, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET"
                    " size = excluded.size, root = excluded.root, note = excluded.note,"
                    " updated_at = excluded.updated_at",
                    (origin, new.size, new.root, note, time.time()),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        finally:
            db.close()
        return result
