"""Engine throughput: decisions/s on a seeded mix, next to plain pycasbin enforce.

Run: .venv/bin/python benchmarks/bench_engine.py [--requests 10000] [--seconds 3]
Both columns evaluate the same 10,000 requests with the same model and rules; "plain" computes
the same features and calls ``casbin.Enforcer.enforce_ex`` for every request (no memo).
"""

from __future__ import annotations

import argparse
import time

import policy
from engine.decide import PolicyEngine
from engine.rule import new_enforcer
from engine.sample import NOW, make_mix


def rate(fn, items, seconds: float) -> float:  # type: ignore[no-untyped-def]
    done, start, now = 0, time.perf_counter(), NOW
    while True:
        for request, facts in items:
            fn(request, facts, now)
        done += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


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
        bits = engine.subject_bits(request, facts, now)
        return stock.enforce_ex(request.actor.type, request.action, request.mode, bits)

    for request, facts in mix:  # same answers, and a warm memo
        allowed, rule = plain(request, facts, now)
        decision = vigie(request, facts, now)
        assert decision.permitted == allowed
        assert decision.reason == (rule[-1] if rule else "actor.not_allowed")
    fast = rate(vigie, mix, args.seconds)
    slow = rate(plain, mix[:1000], min(args.seconds, 3.0))
    print(f"requests in mix        {len(mix):>12,}")
    print(f"memo keys              {casbin.memo_size:>12,}")
    print(f"vigie decide           {fast:>12,.0f} decisions/s")
    print(f"plain casbin enforce   {slow:>12,.0f} decisions/s (stock pycasbin, same model)")
    print(f"ratio                  {fast / slow:>12,.1f}x")


if __name__ == "__main__":
    main()
