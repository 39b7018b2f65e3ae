"""Ledger benchmark: appends/s, whole-ledger verification, proof time, patient export.

Run: .venv/bin/python benchmarks/ledger.py [--entries N]
Targets (issue 3): verify >= 200,000 entries/s on one core; an inclusion proof at 1 M entries
< 1 ms; a 10,000-entry export built and verified < 1 s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
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


def _appends(batch: int, total: int) -> float:
    w = lf.writer(1)
    drafts = [lf.draft(i, lf.patient_of(i, 1000)) for i in range(total)]
    start = time.perf_counter()
    for i in range(0, total, batch):
        w.append(drafts[i : i + batch])
    return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--export-entries", type=int, default=10_000)
    args = parser.parse_args()
    n = args.entries

    print(f"appends/s, batch of 1:   {_appends(1, 20_000):>10,.0f}")
    print(f"appends/s, batch of 100: {_appends(100, 50_000):>10,.0f}")

    w = lf.writer(2)
    hot = "P-HOT"
    every = max(n // args.export_entries, 1)
    start = time.perf_counter()
    batch: list[Draft] = []
    for i in range(n - 1):
        patient = hot if i % every == 0 else lf.patient_of(i, 20_000)
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
    export_draft = Draft(
        kind="decision", action="traces.export", mode="normal", decision="permit",
        reason="patient.owner", policy_version=lf.POLICY, payload={"actor_type": "patient"},
        patient_id=hot,
    )  # fmt: skip
    start = time.perf_counter()
    bundle = w.export(hot, export_draft)
    built = time.perf_counter() - start
    size = w.store.head().size
    print(f"built a ledger of {size:,} entries in {build_time:.1f} s "
          f"({size / build_time:,.0f} appends/s in batches of 1000), "
          f"{len(w.store.checkpoints())} checkpoints")  # fmt: skip

    _measure(w, bundle, built)


def _measure(w: LedgerWriter, bundle: dict[str, Any], built: float) -> None:
    size = w.store.head().size
    assert isinstance(w.store, InMemoryLedgerStore)
    start = time.perf_counter()
    report = verify_ledger(w.store, str(w.signer.verifier))
    elapsed = time.perf_counter() - start
    assert report.entries == size
    print(f"verify: {size:,} entries in {elapsed:.2f} s = {size / elapsed:,.0f} entries/s")

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
          f"(with verification {per_both * 1e3:.3f} ms)")  # fmt: skip

    start = time.perf_counter()
    report_export = verify_export(bundle, str(w.signer.verifier))
    verified = time.perf_counter() - start
    text = json.dumps(bundle)
    start = time.perf_counter()
    verify_export(parse_strict(text), str(w.signer.verifier))
    with_json = time.perf_counter() - start
    print(f"export of {report_export.entries:,} entries: built {built:.3f} s "
          f"(append + checkpoint + proofs + bundle), verified {verified:.3f} s, "
          f"total {built + verified:.3f} s; verify incl. strict JSON parse of "
          f"{len(text) / 1e6:.1f} MB: {with_json:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
