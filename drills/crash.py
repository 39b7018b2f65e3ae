# ruff: noqa: S311  (seeded timing jitter)
"""Crash drill: SIGKILL `vigie serve` (granian master and both workers) at random moments
under a steady decision load on PostgreSQL, restart it, and audit the ledger afterwards.

    .venv/bin/python drills/crash.py [--quick] [--kills N] [--seed S]

Exit 0 only if every 200 the clients received has its entry (same decision_id, seq and leaf
hash), no entry exists for a request that was refused or answered with an error, every entry
belongs to a request that was sent, the chain is gap-free and unforked, every decision is the
one POLICY.md allows, and `vigie ledger verify` passes.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time

from _harness import drill, wait_threads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 kills instead of 20")
    parser.add_argument("--kills", type=int, default=None)
    parser.add_argument("--threads", type=int, default=6, help="client threads")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    kills = args.kills if args.kills is not None else (3 if args.quick else 20)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    random.seed(seed)
    with drill("crash") as run:
        server = run.server("--workers", "2", "--threads", "4")
        server.start()
        run.setup_dossier(server.port)
        stop = threading.Event()
        clients = run.load(lambda: [server.port], args.threads, stop, seconds=600)
        answered_per_cycle = []
        restart_times = []
        try:
            for _ in range(kills):
                before = _answered(run)
                time.sleep(random.uniform(0.3, 1.5))
                answered_per_cycle.append(_answered(run) - before)
                server.kill()
                time.sleep(random.uniform(0.0, 0.3))
                started = time.monotonic()
                server.start()
                restart_times.append(time.monotonic() - started)
            time.sleep(1.0)
        finally:
            stop.set()
            wait_threads(clients, 30)
        if any(count == 0 for count in answered_per_cycle):
            run.report.fault(f"a serving period answered nothing: {answered_per_cycle}")
        entries = run.read_ledger(server.port)
        run.audit(entries, allow_lost=True)
        run.verify()
        run.report.numbers = {
            "seed": seed,
            "SIGKILLs of the process group (master + 2 workers)": kills,
            "restarts": server.starts - 1,
            "restart to ready, max s": round(max(restart_times, default=0.0), 2),
            "200s per serving period (min/max)": (
                f"{min(answered_per_cycle, default=0)}/{max(answered_per_cycle, default=0)}"
            ),
            **run.report.numbers,
            "checkpoints stored": len(run.checkpoints()),
        }
    return run.report.print()


def _answered(run: object) -> int:
    return sum(1 for s in run.sent if s.status == 200)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
