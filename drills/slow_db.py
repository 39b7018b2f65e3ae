# ruff: noqa: PLR0915  (one linear script)
"""Slow-database drill: another connection holds the ledger's append lock (`SELECT ... FROM
ledger_heads FOR UPDATE`, transaction left open) while clients send decisions to `vigie serve`
running with VIGIE_STATEMENT_TIMEOUT_MS=500; then the lock is released.

    .venv/bin/python drills/slow_db.py [--quick] [--hold SECONDS] [--bound SECONDS]

Exit 0 only if, while the lock is held, every answer is a 503 problem+json that arrives within
--bound seconds (never a hang, never a permit), service resumes (200s) within 5 s of the
release without a restart, no entry exists for a 503, every 200 has its entry and
`vigie ledger verify` passes.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time

import psycopg
from _harness import PG_ADMIN_URL, LostError, RefusedError, drill, http, wait_threads

TIMEOUT_MS = 500


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="hold the lock 3 s instead of 8")
    parser.add_argument("--hold", type=float, default=None)
    parser.add_argument(
        "--bound", type=float, default=6.0, help="longest acceptable answer while locked (s)"
    )
    parser.add_argument("--threads", type=int, default=6)
    args = parser.parse_args()
    hold = args.hold if args.hold is not None else (3.0 if args.quick else 8.0)
    with drill("slow_db", VIGIE_STATEMENT_TIMEOUT_MS=str(TIMEOUT_MS)) as run:
        report = run.report
        server = run.server("--workers", "2", "--threads", "4")
        server.start()
        run.setup_dossier(server.port)
        stop = threading.Event()
        clients = run.load(lambda: [server.port], args.threads, stop, seconds=120)
        readyz: list[tuple[int, float]] = []
        resumed = None
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + run.db_name
        try:
            time.sleep(1.0)
            with psycopg.connect(url, connect_timeout=5) as locker:
                locker.execute("SELECT size FROM ledger_heads WHERE id = 1 FOR UPDATE")
                locked = time.monotonic()
                while time.monotonic() < locked + hold:
                    started = time.monotonic()
                    with contextlib.suppress(RefusedError, LostError):
                        status = http(server.port, "GET", "/readyz", timeout=10).status
                        readyz.append((status, time.monotonic() - started))
                    time.sleep(0.25)
                released_at = time.monotonic()
                locker.rollback()
            released = time.monotonic()
            deadline = released + 5.0
            while time.monotonic() < deadline and resumed is None:
                resumed = next(
                    (
                        s.finished
                        for s in list(run.sent)
                        if s.status == 200 and s.started > released
                    ),
                    None,
                )
                time.sleep(0.05)
            time.sleep(0.5)
        finally:
            stop.set()
            wait_threads(clients, 60)
        # requests that started once the lock was held and ended before its release
        during = [s for s in run.sent if s.started >= locked + 0.01 and s.finished <= released_at]
        # every request whose time in flight overlapped the lock
        late = [s for s in run.sent if s.started < released_at and s.finished > locked]
        for s in during:
            if s.outcome != "answered" or s.status != 503:
                report.fault(f"while locked: {s.request_id} got {s.outcome} {s.status}")
            elif s.content_type != "application/problem+json":
                report.fault(f"while locked: 503 of {s.request_id} is {s.content_type}")
        slowest = max((s.finished - s.started for s in late), default=0.0)
        over = [s for s in late if s.finished - s.started > args.bound]
        if over:
            report.fault(f"{len(over)} answers took more than {args.bound} s (max {slowest:.2f})")
        if not during:
            report.fault("no request was answered while the lock was held")
        if resumed is None:
            report.fault("no 200 within 5 s of the release")
        if server.starts != 1 or server.process is None or server.process.poll() is not None:
            report.fault("the server did not stay up")
        entries = run.read_ledger(server.port)
        run.audit(entries, allow_lost=False)
        run.verify()
        latencies = sorted(s.finished - s.started for s in during)
        report.numbers = {
            "statement timeout ms": TIMEOUT_MS,
            "lock held s": round(released_at - locked, 2),
            "requests answered while locked": len(during),
            "of which 503 problem+json": sum(
                1
                for s in during
                if s.status == 503 and s.content_type == "application/problem+json"
            ),
            "503 latency while locked, median / max s": (
                f"{latencies[len(latencies) // 2]:.2f} / {latencies[-1]:.2f}" if latencies else "-"
            ),
            "slowest answer of a request in flight while locked, s": round(slowest, 2),
            "bound, s": args.bound,
            "/readyz while locked": (
                f"{len(readyz)} probes, statuses {sorted({status for status, _ in readyz})}, "
                f"max {max((t for _, t in readyz), default=0.0):.2f} s"
            ),
            "first 200 after release, s": None if resumed is None else round(resumed - released, 2),
            **report.numbers,
        }
    return run.report.print()


if __name__ == "__main__":
    sys.exit(main())
