"""Whole-ledger verification as a background job of this process, with its progress.

One job at a time per process; the last result is kept in memory only (another worker process
or a restart does not know it, and the desk page says so)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ledger.errors import LedgerError
from ledger.note import NoteVerifier
from ledger.verify import verify_ledger
from models.database import Database
from models.errors import StoreError


@dataclass(frozen=True)
class CheckState:
    """A snapshot of the job: running or finished, progress, and the outcome."""

    running: bool = False
    done: int = 0
    total: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    started_by: str | None = None
    ok: bool | None = None
    entries: int | None = None
    checkpoints: int | None = None
    root: str | None = None
    detail: str | None = None
    seconds: float | None = None


class LedgerCheck:
    """Runs ``verify_ledger`` over a read-only unit of work in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = CheckState()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self._state)

    def start(
        self, database: Database, verifier: NoteVerifier, origin: str, started_by: str
    ) -> bool:
        """Start a verification unless one is running; False when one already is."""
        with self._lock:
            if self._state.running:
                return False
            self._state = CheckState(running=True, started_at=_now(), started_by=started_by)
        thread = threading.Thread(
            target=self._run,
            args=(database, verifier, origin),
            name="vigie-web-verify",
            daemon=True,
        )
        thread.start()
        return True

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)

    def _run(self, database: Database, verifier: NoteVerifier, origin: str) -> None:
        began = time.perf_counter()
        try:
            with database.read_only() as uow:
                report = verify_ledger(
                    uow.ledger,
                    verifier,
                    origin=origin,
                    progress=lambda done, total: self._update(done=done, total=total),
                )
        except LedgerError as exc:
            self._finish(began, ok=False, detail=str(exc))
        except StoreError as exc:
            self._finish(began, ok=False, detail=f"database unavailable: {type(exc).__name__}")
        except Exception as exc:  # reported on the page, logged with its traceback
            logging.getLogger("vigie.web").exception("ledger verification crashed")
            self._finish(began, ok=False, detail=f"unexpected error: {type(exc).__name__}")
        else:
            self._finish(
                began,
                ok=True,
                entries=report.entries,
                checkpoints=report.checkpoints,
                root=report.root.hex(),
                done=report.entries,
                total=report.entries,
            )

    def _finish(self, began: float, **outcome: Any) -> None:
        self._update(
            running=False,
            finished_at=_now(),
            seconds=round(time.perf_counter() - began, 3),
            **outcome,
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
