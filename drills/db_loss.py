# ruff: noqa: S603, PLR0915  (runs pg_ctlcluster; one linear script)
"""Database-loss drill: stop the machine's PostgreSQL (pg_ctlcluster) under a decision load
against `vigie serve`, keep sending while it is down, start it again, and check that the
service recovers by itself (no restart) and that nothing was lost or invented.

    .venv/bin/python drills/db_loss.py [--quick] [--down SECONDS]

While the database is down every answer must be a 503 problem+json (never a permit, never a
500) and `/readyz` must be 503; after it is back, 200s must return within --recover-within
seconds. PostgreSQL is started again in a `finally`, whatever happens (also on SIGTERM/^C).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from _harness import LostError, RefusedError, drill, http, wait_for_postgres, wait_threads


def cluster() -> list[str]:
    version = os.environ.get("VIGIE_DRILL_PG_VERSION") or sorted(os.listdir("/etc/postgresql"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def pg(action: str) -> None:
    extra = ["-m", "fast"] if action == "stop" else []
    subprocess.run([*cluster(), action, *extra], check=True, timeout=120, capture_output=True)


def ensure_postgres_running() -> None:
    """Start the cluster unless it answers; called in every ``finally``."""
    if wait_for_postgres(1):
        return
    with contextlib.suppress(subprocess.SubprocessError):
        pg("start")
    if not wait_for_postgres(60):
        print("drill db_loss: PostgreSQL did not come back: start it by hand", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter outage")
    parser.add_argument("--down", type=float, default=None, help="seconds without the database")
    parser.add_argument("--recover-within", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    down_for = args.down if args.down is not None else (2.0 if args.quick else 5.0)
    if not Path("/etc/postgresql").is_dir():
        print("drill db_loss: no local PostgreSQL cluster (pg_ctlcluster) to stop", file=sys.stderr)
        return 2
    try:
        with drill("db_loss") as run:
            _run(run, down_for, args.recover_within, args.threads)
    finally:
        ensure_postgres_running()
    return run.report.print()


def _run(run, down_for: float, recover_within: float, threads: int) -> None:  # type: ignore[no-untyped-def]
    report = run.report
    server = run.server("--workers", "2", "--threads", "4")
    server.start()
    run.setup_dossier(server.port)
    stop = threading.Event()
    clients = run.load(lambda: [server.port], threads, stop, seconds=120)
    readyz: list[int] = []
    try:
        time.sleep(1.5)
        stopping = time.monotonic()
        pg("stop")
        down = time.monotonic()
        deadline = down + down_for
        while time.monotonic() < deadline:
            with contextlib.suppress(RefusedError, LostError):
                readyz.append(http(server.port, "GET", "/readyz", timeout=10).status)
            time.sleep(0.2)
        starting = time.monotonic()
        try:
            pg("start")
        finally:
            ensure_postgres_running()
        up = time.monotonic()
        recovered = None
        limit = up + recover_within
        while time.monotonic() < limit and recovered is None:
            recovered = next(
                (s.finished for s in list(run.sent) if s.status == 200 and s.started > up), None
            )
            time.sleep(0.05)
        time.sleep(1.0)
    finally:
        stop.set()
        wait_threads(clients, 30)
    during = [s for s in run.sent if s.started >= down and s.finished and s.finished <= starting]
    bad = [s for s in during if s.outcome != "answered" or s.status != 503]
    not_problem = [
        s for s in during if s.status == 503 and s.content_type != "application/problem+json"
    ]
    permits = [s for s in during if s.body and s.body.get("decision") == "permit"]
    for s in bad[:10]:
        report.fault(f"while down: {s.request_id} got {s.outcome} {s.status}")
    for s in not_problem[:10]:
        report.fault(f"while down: 503 of {s.request_id} is {s.content_type}")
    for s in permits:
        report.fault(f"PERMIT WHILE THE DATABASE WAS DOWN: {s.request_id}")
    if not during:
        report.fault("no request was answered while the database was down")
    if any(status != 503 for status in readyz) or not readyz:
        report.fault(f"/readyz while down: {readyz}")
    if recovered is None:
        report.fault(f"no 200 within {recover_within} s of PostgreSQL's return (no restart)")
    if server.process is None or server.process.poll() is not None or server.starts != 1:
        report.fault("the server did not stay up through the outage")
    max_while_down = max((s.finished - s.started for s in during), default=0.0)
    entries = run.read_ledger(server.port)
    run.audit(entries, allow_lost=False)
    run.verify()
    report.numbers = {
        "pg_ctlcluster stop took s": round(down - stopping, 2),
        "database down for s": round(starting - down, 2),
        "requests sent and answered while down": len(during),
        "of which 503 problem+json": sum(
            1 for s in during if s.status == 503 and s.content_type == "application/problem+json"
        ),
        "slowest answer while down, s": round(max_while_down, 3),
        "/readyz while down": f"{len(readyz)} probes, statuses {sorted(set(readyz))}",
        "first 200 after PostgreSQL start, s": (
            None if recovered is None else round(recovered - up, 2)
        ),
        "server restarts": server.starts - 1,
        **report.numbers,
    }


if __name__ == "__main__":
    sys.exit(main())
