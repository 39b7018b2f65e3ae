"""api/group_commit.py on its own: the queue, the leader, the groups, the failures.

``GroupCommit`` is generic over ``commit(take) -> results``: here ``commit`` is a function of
the test (the module under test is the queue, not what a group does), which records every
group it was given and can hold itself before or after taking its calls, so that calls queue
up in a known order. No database: tests/api/test_service.py runs the service's
group commit on both backends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from api.group_commit import GroupCommit, Take


class AwayError(Exception):
    """Stands for the database being away: not retried."""


class Recorder:
    """A ``commit`` that records its groups (and the thread that ran each), answers
    ``"<call>!"`` per call, and raises ``fail(group)`` when that returns an exception. While
    ``hold_before`` / ``hold_after`` is set, the first group waits for ``gate`` before / after
    taking its calls."""

    def __init__(self, fail: Callable[[list[str]], Exception | None] = lambda _: None) -> None:
        self.groups: list[list[str]] = []
        self.leaders: list[str] = []
        self.fail = fail
        self.started = threading.Event()
        self.gate = threading.Event()
        self.hold_before = False
        self.hold_after = False

    def __call__(self, take: Take[str]) -> list[str]:
        first = not self.started.is_set()
        self.started.set()
        if first and self.hold_before:
            assert self.gate.wait(5)
        calls = take()
        self.groups.append(calls)
        self.leaders.append(threading.current_thread().name)
        if first and self.hold_after:
            assert self.gate.wait(5)
        error = self.fail(calls)
        if error is not None:
            raise error
        return [f"{call}!" for call in calls]


def submitter(group: GroupCommit[str, str], call: str, got: dict[str, Any]) -> threading.Thread:
    """A thread named ``call`` that submits it and puts what it got (its result or its
    exception) in ``got``; not started."""

    def run() -> None:
        try:
            got[call] = group.submit(call)
        except Exception as error:  # the test asserts on it
            got[call] = error

    return threading.Thread(target=run, name=call)


def _submit_all(group: GroupCommit[str, str], calls: list[str], commit: Recorder) -> dict[str, Any]:
    """Submit ``calls`` from one thread each, named after its call, in this order (each
    queued before the next starts, the first being the leader); open ``commit.gate``; return
    what each call got (its result or its exception)."""
    got: dict[str, Any] = {}
    threads = [submitter(group, c, got) for c in calls]
    threads[0].start()
    assert commit.started.wait(5)
    queued = 0 if commit.hold_after else 1  # held before take: the leader's call is still queued
    for thread in threads[1:]:
        thread.start()
        queued += 1
        _queued(group, queued)
    commit.gate.set()
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()
    return got


def _queued(group: GroupCommit[str, str], count: int) -> None:
    _until(lambda: group.waiting() == count)


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 3
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.002)


def test_a_lone_call_is_a_group_of_one() -> None:
    commit = Recorder()
    group: GroupCommit[str, str] = GroupCommit(commit)
    assert group.submit("a") == "a!"
    assert group.submit("b") == "b!"
    assert commit.groups == [["a"], ["b"]]
    assert group.waiting() == 0


def test_calls_waiting_when_the_leader_takes_share_its_group_in_arrival_order() -> None:
    commit = Recorder()
    commit.hold_before = True  # the leader is getting ready (waiting for the append lock)
    group: GroupCommit[str, str] = GroupCommit(commit)
    got = _submit_all(group, ["a", "b", "c", "d"], commit)
    assert commit.groups == [["a", "b", "c", "d"]]
    assert commit.leaders == ["a"]
    assert got == {"a": "a!", "b": "b!", "c": "c!", "d": "d!"}  # each its own result


def test_calls_arriving_after_the_take_form_the_next_group_led_by_the_oldest() -> None:
    commit = Recorder()
    commit.hold_after = True  # the leader took its calls and is committing them
    group: GroupCommit[str, str] = GroupCommit(commit)
    got = _submit_all(group, ["a", "b", "c", "d"], commit)
    assert commit.groups == [["a"], ["b", "c", "d"]]
    assert commit.leaders == ["a", "b"]  # the oldest waiting call leads the next group
    assert got == {"a": "a!", "b": "b!", "c": "c!", "d": "d!"}
    assert group.waiting() == 0
    assert group.submit("e") == "e!"  # and the lead was given back: a new call leads again


def test_a_failing_group_is_retried_call_by_call_and_only_the_bad_call_fails() -> None:
    bad = ValueError("bad call")
    commit = Recorder(fail=lambda calls: bad if "bad" in calls else None)
    commit.hold_before = True
    group: GroupCommit[str, str] = GroupCommit(commit, not_retried=(AwayError,))
    got = _submit_all(group, ["a", "bad", "c"], commit)
    assert commit.groups == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
    assert got["a"] == "a!" and got["c"] == "c!"
    assert got["bad"] is bad  # its own exception, raised in its own thread
    assert group.submit("d") == "d!"


def test_a_group_of_one_that_fails_is_not_retried() -> None:
    commit = Recorder(fail=lambda calls: RuntimeError("no"))
    group: GroupCommit[str, str] = GroupCommit(commit)
    with pytest.raises(RuntimeError, match="no"):
        group.submit("a")
    assert commit.groups == [["a"]]


def test_a_not_retried_error_fails_every_call_of_the_group_at_once() -> None:
    away = AwayError("database away")
    commit = Recorder(fail=lambda calls: away)
    commit.hold_before = True
    group: GroupCommit[str, str] = GroupCommit(commit, not_retried=(AwayError,))
    got = _submit_all(group, ["a", "b", "c"], commit)
    assert commit.groups == [["a", "b", "c"]]  # no retry: it would only wait again
    assert got == {"a": away, "b": away, "c": away}


def _fails_before_taking(error: Exception) -> tuple[dict[str, Any], list[list[str]]]:
    """Two calls queued while the first ``commit`` fails before it takes (the transaction
    could not even open) with ``error``; later commits succeed. What each call got, and the
    groups committed."""
    started, gate = threading.Event(), threading.Event()
    seen: list[list[str]] = []

    def commit(take: Take[str]) -> list[str]:
        if not started.is_set():
            started.set()
            assert gate.wait(5)
            raise error
        calls = take()
        seen.append(calls)
        return [f"{c}!" for c in calls]

    group: GroupCommit[str, str] = GroupCommit(commit, not_retried=(AwayError,))
    got: dict[str, Any] = {}
    threads = [submitter(group, c, got) for c in "ab"]
    threads[0].start()
    assert started.wait(5)
    threads[1].start()
    _queued(group, 2)
    gate.set()
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive(), "a call left waiting"
    return got, seen


def test_a_commit_that_fails_before_taking_retries_the_waiting_calls_alone() -> None:
    got, seen = _fails_before_taking(RuntimeError("could not open"))
    assert seen == [["a"], ["b"]] and got == {"a": "a!", "b": "b!"}


def test_a_commit_away_before_taking_fails_every_waiting_call() -> None:
    away = AwayError("database away")
    got, seen = _fails_before_taking(away)
    assert seen == [] and got == {"a": away, "b": away}


def test_many_threads_each_get_their_own_result() -> None:
    commit = Recorder()
    group: GroupCommit[str, str] = GroupCommit(commit)
    got: dict[str, str] = {}
    lock = threading.Lock()

    def run(i: int) -> None:
        for j in range(50):
            call = f"{i}.{j}"
            result = group.submit(call)
            with lock:
                got[call] = result

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
        assert not thread.is_alive()
    assert got == {f"{i}.{j}": f"{i}.{j}!" for i in range(8) for j in range(50)}
    calls = [c for g in commit.groups for c in g]
    assert sorted(calls) == sorted(got)  # each call committed once
    for i in range(8):  # a thread's calls in its order
        assert [c for c in calls if c.startswith(f"{i}.")] == [f"{i}.{j}" for j in range(50)]
    assert group.waiting() == 0
