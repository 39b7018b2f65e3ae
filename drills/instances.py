"""Instances drill: three `vigie serve` processes (separate ports, two workers each) on one
PostgreSQL database under a decision load spread over all of them.

    .venv/bin/python drills/instances.py [--quick] [--seconds S]

Exit 0 only if every request was answered 200, the ledger is one linear chain (seq 0..N-1,
each `prev` the previous leaf hash, no seq twice), the number of entries equals the answered
requests plus the setup and auditor ones, the checkpoints the three instances signed (every
0.3 s each) only grow and `vigie ledger verify` (which checks each checkpoint's root,
signature and consistency with the next) passes.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from _harness import drill, wait_threads

INSTANCES = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 s of load instead of 15")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--threads", type=int, default=9, help="client threads")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else (4.0 if args.quick else 15.0)
    with drill("instances", VIGIE_CHECKPOINT_INTERVAL="0.3") as run:
        servers = [run.server("--workers", "2", "--threads", "4") for _ in range(INSTANCES)]
        for server in servers:
            server.start()
        run.setup_dossier(servers[0].port)
        ports = [s.port for s in servers]
        stop = threading.Event()
        clients = run.load(lambda: ports, args.threads, stop, seconds=seconds)
        time.sleep(seconds)
        stop.set()
        wait_threads(clients, 60)
        entries = run.read_ledger(servers[1].port)
        run.audit(entries, allow_lost=False)
        report = run.report
        seqs = [e["header"]["seq"] for e in entries]
        if len(set(seqs)) != len(seqs):
            report.fault("duplicate seq")
        answered = sum(1 for s in run.sent if s.status == 200)
        load_entries = report.numbers["entries of the load"]
        if load_entries != answered:
            report.fault(f"{load_entries} load entries for {answered} answered requests")
        if len(run.sent) != answered:
            report.fault(f"{len(run.sent) - answered} requests not answered 200")
        sizes = run.checkpoints()
        if sizes != sorted(sizes) or len(set(sizes)) != len(sizes):
            report.fault(f"checkpoint sizes not strictly growing: {sizes}")
        if len(sizes) < 2:
            report.fault(f"only {len(sizes)} checkpoints: consistency between them untested")
        run.verify()
        report.numbers = {
            "instances": f"{INSTANCES} x `vigie serve --workers 2` on ports {ports}",
            "seconds of load": seconds,
            "decisions per second": round(answered / seconds, 1),
            **report.numbers,
            "distinct seqs": len(set(seqs)),
            "checkpoints stored (signed by 3 instances)": len(sizes),
        }
    return run.report.print()


if __name__ == "__main__":
    sys.exit(main())
