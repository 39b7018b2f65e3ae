"""Many threads deciding at once give exactly the single-threaded answers, and no errors.

pycasbin re-parses its matcher on every enforce(), which CPython 3.11.7 can corrupt under
threads (gh-106905); the engine must never let two threads into the enforcer at once.
"""

from __future__ import annotations

import threading

import policy
from engine.decide import PolicyEngine
from tests.engine.sample import NOW, make_mix

THREADS = 16
ROUNDS = 2


def test_sixteen_threads_agree_with_one() -> None:
    mix = make_mix(1_000, seed=7)
    reference = [PolicyEngine(policy.load()).decide(r, f, NOW) for r, f in mix]
    shared = PolicyEngine(policy.load())  # cold memo: threads race to fill it
    results: dict[int, list[object]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(index: int) -> None:
        try:
            barrier.wait()
            out = []
            for _ in range(ROUNDS):
                order = mix[index:] + mix[:index]  # every thread in its own order
                decided = [shared.decide(r, f, NOW) for r, f in order]
                out.append(decided[len(mix) - index :] + decided[: len(mix) - index])
            results[index] = out
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    total = 0
    for out in results.values():
        for decided in out:
            assert decided == reference
            total += len(decided)
    assert total >= 20_000
