"""Ledger benchmark: appends/s, whole-ledger verification, proof time, patient export.

Run: .venv/bin/python benchmarks/bench_ledger.py [--entries N] [--repeat 3]
Targets (issue 3): verify >= 200,000 entries/s on one core; an inclusion proof at 1 M entries
< 1 ms; a 10,000-entry export built and verified < 1 s. Each timed step runs ``--repeat``
times and prints the median and the best (wall clock, and the process's CPU time beside it).

Garbage collector: enabled with its default thresholds, as in the service and the CLI. The
in-memory store's entries stand for PostgreSQL rows, which in the service are not Python
objects at all; so once the ledger is built they leave the collector's generations with
``gc.freeze()``, as the server workers freeze their start-up objects (api/server.py).
Without that, a full collection over the benchmark's million ``Entry`` objects costs about
0.4 s whenever one happens to fall inside a timed step.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ledger"))

import ledger_factory as lf

from ledger import merkle
from ledger.canonical import parse_strict
from ledger.entry import Draft
from ledger.export import verify_export
from ledger.store import InMemoryLedgerStore
from ledger.verify import verify_ledger
from ledger.writer import LedgerWriter

EXPORT_DRAFT = Draft(
    kind="decision", action="traces.export", mode="normal", decision="permit",
    reason="patient.owner", policy_version=lf.POLICY, payload={"actor_type": "patient"},
    patient_id="P-HOT",
)  # fmt: skip


def _appends(batch: int, total: int) -> float:
    w = lf.writer(1)
    drafts = [lf.draft(i, lf.patient_of(i, 1000)) for i in range(total)]
    start = time.perf_counter()
    for i in range(0, total, batch):
        w.append(drafts[i : i + batch])
    return total / (time.perf_counter() - start)


def _timed(step: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = step()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _build(n: int, export_entries: int) -> LedgerWriter:
    w = lf.writer(2)
    every = max(n // export_entries, 1)
    start = time.perf_counter()
    batch: list[Draft] = []
    for i in range(n - 1):
        patient = EXPORT_DRAFT.patient_id if i % every == 0 else lf.patient_of(i, 20_000)
        batch.append(lf.draft(i, patient))
        if len(batch) == 1000:
            w.append(batch)
            batch = []
        if (i + 1) % 100_000 == 0:
            if batch:
                w.append(batch)
                batch = []
            w.checkpoint()
    if batch:
        w.append(batch)
    build_time = time.perf_counter() - start
    size = w.store.head().size
    print(f"built a ledger of {size:,} entries in {build_time:.1f} s "
          f"({size / build_time:,.0f} appends/s in batches of 1000), "
          f"{len(w.store.checkpoints())} checkpoints")  # fmt: skip
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--export-entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(f"appends/s, batch of 1:   {_appends(1, 20_000):>10,.0f}")
    print(f"appends/s, batch of 100: {_appends(100, 50_000):>10,.0f}")
    w = _build(args.entries, args.export_entries)
    gc.collect()
    gc.freeze()  # see the module docstring; the collector stays enabled
    print(f"gc: enabled, thresholds {gc.get_threshold()}, {gc.get_freeze_count():,} objects "
          "frozen after the build (the stored ledger, as rows in the service)")  # fmt: skip
    _verify(w, args.repeat)
    _proofs(w)
    _export(w, args.repeat)


def _verify(w: LedgerWriter, repeat: int) -> None:
    size = w.store.head().size
    key = str(w.signer.verifier)
    rates, cpu_rates = [], []
    for _ in range(repeat):
        wall, cpu, report = _timed(lambda: verify_ledger(w.store, key))
        assert report.entries == size
        rates.append(size / wall)
        cpu_rates.append(size / cpu)
    print(f"verify {size:,} entries: median {statistics.median(rates):,.0f} entries/s, "
          f"best {max(rates):,.0f} (CPU time: median {statistics.median(cpu_rates):,.0f}) "
          f"over {repeat} runs; target >= 200,000 entries/s on one core")  # fmt: skip


def _proofs(w: LedgerWriter) -> None:
    assert isinstance(w.store, InMemoryLedgerStore)
    size = w.store.head().size
    rng = random.Random(0)
    indices = [rng.randrange(size) for _ in range(2000)]
    start = time.perf_counter()
    for index in indices:
        merkle.inclusion_proof(w.store, index, size)
    per_proof = (time.perf_counter() - start) / len(indices)
    root = merkle.root(w.store, size)
    start = time.perf_counter()
    for index in indices:
        leaf = w.store.records[index].leaf_hash
        merkle.verify_inclusion(index, size, leaf, merkle.inclusion_proof(w.store, index, size),
                                root)  # fmt: skip
    per_both = (time.perf_counter() - start) / len(indices)
    print(f"inclusion proof at {size:,}: {per_proof * 1e3:.3f} ms "
          f"(with verification {per_both * 1e3:.3f} ms); target < 1 ms")  # fmt: skip


def _export(w: LedgerWriter, repeat: int) -> None:
    key = str(w.signer.verifier)
    patient = EXPORT_DRAFT.patient_id
    assert patient is not None
    built, verified, totals, cpu_totals = [], [], [], []
    bundle: dict[str, Any] = {}
    for _ in range(repeat):  # each export appends its own entry, as in the service
        wall_b, cpu_b, bundle = _timed(lambda: w.export(patient, w.append([EXPORT_DRAFT])[0]))
        wall_v, cpu_v, report = _timed(partial(verify_export, bundle, key))
        built.append(wall_b)
        verified.append(wall_v)
        totals.append(wall_b + wall_v)
        cpu_totals.append(cpu_b + cpu_v)
    text = json.dumps(bundle)
    with_json, _, _ = _timed(lambda: verify_export(parse_strict(text), key))
    print(f"export of {report.entries:,} entries, built (append + checkpoint + proofs + bundle) "
          f"and verified: median {statistics.median(totals):.3f} s, best {min(totals):.3f} s "
          f"(build median {statistics.median(built):.3f} s, verify median "
          f"{statistics.median(verified):.3f} s; CPU time median "
          f"{statistics.median(cpu_totals):.3f} s) over {repeat} runs; target < 1 s")  # fmt: skip
    print(f"  verify incl. strict JSON parse of the {len(text) / 1e6:.1f} MB bundle: "
          f"{with_json:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
