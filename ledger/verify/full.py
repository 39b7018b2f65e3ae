"""Whole-ledger verification over a store, streamed in chunks (:func:`verify_ledger`).

Checks, for every stored entry in order: the header is canonical v1 JSON; its hash equals the
stored leaf hash; ``seq`` is its position; ``prev`` is the previous leaf hash; the patient
chain (``patient_seq``/``patient_prev``); the payload commitment when the payload is still
there, and otherwise that a later ``erasure`` entry of that patient justifies its absence.
It recomputes the Merkle root at every stored checkpoint's size, checks every signature and
that the checkpoints are consistent. The first fault raises :class:`LedgerFault` with its seq
and kind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from ledger.errors import LedgerFault
from ledger.note import NoteVerifier
from ledger.store import LedgerStore
from ledger.verify.parallel import ChunkReader, verify_parallel
from ledger.verify.reference import FaultError, load_checkpoints
from ledger.verify.run import Run

Progress = Callable[[int, int], None]
"""Called as progress(entries_done, entries_total) after each chunk."""

PARALLEL_MIN = 1 << 17
"""Below this many entries a verification given a ``reader`` reads through the store alone
(starting workers takes longer than it saves)."""


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """What a successful verification covered."""

    entries: int
    root: bytes
    checkpoints: int
    largest_checkpoint: int
    erased: int
    parallel: int = field(default=0, compare=False)
    """The first ``parallel`` entries were read through the ``reader`` and checked by worker
    processes or the read-ahead thread (0: none)."""


def verify_ledger(
    store: LedgerStore,
    verifier_key: NoteVerifier | str,
    *,
    origin: str | None = None,
    chunk_size: int = 4096,
    progress: Progress | None = None,
    reader: ChunkReader | None = None,
    workers: int = 1,
    executor: Executor | None = None,
    fast: bool = True,
) -> LedgerReport:
    """Verify the whole ledger in ``store`` (a :class:`ledger.store.LedgerStore`) against the
    public ``verifier_key``. Reads ``chunk_size`` entries at a time (a power of two).
    Returns a report, or raises LedgerFault naming the first faulty seq and its kind.

    With a ``reader``, ledgers of :data:`PARALLEL_MIN` entries or more are read and checked
    chunk by chunk through it, in ``workers`` worker processes when ``workers > 1`` (an
    ``executor`` replaces them, for tests), else in one read-ahead thread of this process
    (the next chunks are read and their stateless checks run while this thread applies the
    last: the database's time overlaps with ours, and rows arrive as columns, with no
    ``Entry`` per row). This process then applies each chunk's result in order (see
    :func:`ledger.verify.parallel.verify_parallel`). The outcome is the same as reading
    through the store alone. ``fast=False`` runs the reference path alone, entry by entry,
    in this process (the specification; ``reader`` and ``workers`` are then unused): same
    outcome, slower."""
    if chunk_size < 1 or chunk_size & (chunk_size - 1):
        raise ValueError(f"chunk_size must be a power of two, got {chunk_size}")
    verifier = (
        NoteVerifier.from_string(verifier_key) if isinstance(verifier_key, str) else verifier_key
    )
    checkpoints = load_checkpoints(store.checkpoints(), verifier, origin)
    total = store.head().size
    run = Run(store, checkpoints) if fast else Run(store, checkpoints, scanner=None)
    state = run.state

    def report_progress() -> None:
        if progress is not None:
            progress(state.position, total)

    try:
        parallel = 0
        if fast and reader is not None and (total >= PARALLEL_MIN or executor):
            end = total - total % chunk_size
            with contextlib.ExitStack() as stack:
                if workers <= 1 and executor is None:
                    executor = stack.enter_context(ThreadPoolExecutor(1, "vigie-read-ahead"))
                parallel = verify_parallel(
                    run, reader, max(workers, 1), executor, end, chunk_size, report_progress
                )
        while chunk := store.entries(state.position, chunk_size):
            run.chunk(chunk)
            report_progress()
        run.finish(total)
    except FaultError as fault:
        raise LedgerFault(fault.seq, fault.kind, fault.detail) from None
    return LedgerReport(
        state.position,
        run.tree.root(),
        sum(map(len, checkpoints.by_size.values())),
        max(checkpoints.by_size, default=0),
        state.erased,
        parallel,
    )
