"""Group commit: calls that arrive while a commit is under way share the next one.

``GroupCommit(commit)`` knows nothing of what a call is: ``commit(take)`` does the work of a
group. It calls ``take()`` once it is ready (for the service: once its transaction holds the
ledger's append lock) and gets every call waiting at that moment, in arrival order (those that
arrived while it was getting ready included); it returns one result per call, in that order.
``submit(call)`` returns that call's own result, or raises its own exception.

One thread at a time (the leader) runs a group; its own call is in it. Then the oldest call
still waiting leads the next group: each thread is woken once, by its own event, instead of
all of them queueing on one lock to find out whether they are done. When ``commit`` raises:

- an exception of ``not_retried`` (the database is away: a retry would only wait again)
  fails every call of the group with it;
- any other fails a group of one with it, and a larger group is retried call by call (each
  call alone in its own ``commit``), so that one bad call cannot sink the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

C = TypeVar("C")
R = TypeVar("R")
Take = Callable[[], list[C]]


class GroupCommit(Generic[C, R]):
    """The queue of calls waiting to be committed, and who leads the next group."""

    def __init__(
        self,
        commit: Callable[[Take[C]], list[R]],
        not_retried: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._commit = commit
        self._not_retried = not_retried
        self._pending_lock = threading.Lock()
        self._pending: list[_Job[C, R]] = []
        self._leading = False  # a thread is running a group (under _pending_lock)

    def waiting(self) -> int:
        """How many calls are queued for the next group (the leader's taken ones aside)."""
        with self._pending_lock:
            return len(self._pending)

    def submit(self, call: C) -> R:
        """Queue ``call``; return its result once the group holding it committed (or raise
        the error that failed it)."""
        job: _Job[C, R] = _Job(call)
        with self._pending_lock:
            self._pending.append(job)
            lead = not self._leading
            self._leading = True
        if not lead:
            job.woken.wait()  # finished, or asked to lead the next group
        if not job.finished:
            self._lead()
        return job.result()

    def _lead(self) -> None:
        """Run one group, then hand the lead to the oldest call still waiting, if any."""
        try:
            self._run(self._take_pending)
        finally:
            with self._pending_lock:
                if self._pending:
                    self._pending[0].woken.set()
                else:
                    self._leading = False

    def _take_pending(self) -> list[_Job[C, R]]:
        with self._pending_lock:
            jobs, self._pending = self._pending, []
        return jobs

    def _run(self, take: Callable[[], list[_Job[C, R]]]) -> None:
        """Commit the calls ``take`` returns (called when ``commit`` asks for them); settle
        each job with its result or error."""
        jobs: list[_Job[C, R]] = []

        def taken() -> list[C]:
            jobs.extend(take())
            return [job.call for job in jobs]

        try:
            results = self._commit(taken)
        except self._not_retried as error:
            for job in jobs or take():
                job.fail(error)
            return
        except Exception as error:
            jobs = jobs or take()
            if len(jobs) == 1:
                jobs[0].fail(error)
                return
            for job in jobs:
                self._run(_just(job))
            return
        for job, result in zip(jobs, results, strict=True):
            job.succeed(result)


def _just(job: _Job[C, R]) -> Callable[[], list[_Job[C, R]]]:
    return lambda: [job]


class _Job(Generic[C, R]):
    """One call waiting for its group to commit."""

    def __init__(self, call: C) -> None:
        self.call = call
        self.finished = False
        self.woken = threading.Event()
        self._result: R | None = None
        self._error: BaseException | None = None

    def succeed(self, result: R) -> None:
        self._result, self.finished = result, True
        self.woken.set()

    def fail(self, error: BaseException) -> None:
        self._error, self.finished = error, True
        self.woken.set()

    def result(self) -> R:
        if self._error is not None:
            raise self._error
        assert self.finished  # woken after succeed()
        return cast(R, self._result)
