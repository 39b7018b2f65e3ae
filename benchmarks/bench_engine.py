"""Engine throughput: decisions/s on a seeded mix, next to plain pycasbin enforce.

Run: .venv/bin/python benchmarks/bench_engine.py [--requests 10000] [--seconds 3]
Both columns evaluate the same 10,000 requests with the same model and rules; "plain" computes
the same features and calls ``casbin.Enforcer.enforce_ex`` for every request (no memo). The mix
draws on every profession and type of policy/ (tests/engine/sample.py). "CPU time" divides by this
process's CPU seconds instead of wall seconds, which stays meaningful on a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.engine

import policy
from engine.decide import PolicyEngine
from engine.rule import new_enforcer
from tests.engine.plain import subject_bits
from tests.engine.sample import NOW, make_mix


def rates(fn, items, seconds: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Decisions per second of wall time, and per second of this process's CPU time (the
    second is what one core gives when other processes do not take it)."""
    done, start, cpu, now = 0, time.perf_counter(), time.process_time(), NOW
    while True:
        for request, facts in items:
            fn(request, facts, now)
        done += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed, done / max(time.process_time() - cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    engine = PolicyEngine(policy.load())
    mix = make_mix(args.requests)
    now = NOW

    vigie = engine.decide
    casbin = engine.casbin
    source = policy.load()
    stock = new_enforcer(source.text("model.conf"), source.text("rules.csv"), parse_once=False)

    def plain(request, facts, now):  # type: ignore[no-untyped-def]
        bits = subject_bits(engine, request, facts, now)
        return stock.enforce_ex(request.actor.type, request.action, request.mode, bits)

    for request, facts in mix:  # same answers, and a warm memo
        allowed, rule = plain(request, facts, now)
        decision = vigie(request, facts, now)
        assert decision.permitted == allowed
        assert decision.reason == (rule[-1] if rule else "actor.not_allowed")
    fast, fast_cpu = rates(vigie, mix, args.seconds)
    slow, _ = rates(plain, mix[:1000], min(args.seconds, 3.0))
    print(f"requests in mix        {len(mix):>12,}")
    print(f"memo keys              {casbin.memo_size:>12,}")
    print(f"vigie decide           {fast:>12,.0f} decisions/s")
    print(f"vigie decide, CPU time {fast_cpu:>12,.0f} decisions per CPU-second")
    print(f"plain casbin enforce   {slow:>12,.0f} decisions/s (stock pycasbin, same model)")
    print(f"ratio                  {fast / slow:>12,.1f}x")


if __name__ == "__main__":
    main()
