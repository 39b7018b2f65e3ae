"""Parallel whole-ledger verification: the fast path's stateless checks in worker processes.

Worker processes read chunks through a :data:`ChunkReader` and run every check that needs no
ledger state (:meth:`ledger.verify.fast.Scanner.local`), plus the subtree nodes the Merkle tree
will need; :func:`prefetched` keeps a bounded number of chunks in flight and yields their
results in seq order, and :func:`verify_parallel` applies them to the one true state in the
verifying process. Anything a worker declines is read again there and goes through the
sequential path (:class:`ledger.verify.run.Run`), so the outcome is the one-process outcome.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass

from ledger import hashing, merkle
from ledger.verify.fast import SCAN_BLOCK, Local, Scanner
from ledger.verify.run import Run, push_nodes, subtree_nodes
from ledger.verify.state import Columns

ChunkReader = Callable[[int, int], Columns]
"""``reader(first, limit)``: up to ``limit`` stored entries from seq ``first`` on, in seq order,
as :meth:`LedgerStore.entries` gives them but as columns, callable in a worker process:
picklable, opening its own connection there (``models.database.LedgerReader``)."""

AHEAD = 3
"""Chunks read ahead per worker."""


@dataclass(frozen=True, slots=True)
class Block:
    """A worker's verdict on one scan block: its :class:`Local` (None: declined, or not read
    whole) and the subtree nodes the tree needs."""

    start: int
    count: int
    local: Local | None
    nodes: dict[merkle.NodeKey, bytes]


_worker = threading.local()


def read_and_scan(
    reader: ChunkReader, start: int, count: int, sizes: frozenset[int]
) -> list[Block]:
    """In a worker: read ``count`` entries from ``start`` and run every stateless check."""
    scanner = getattr(_worker, "scanner", None)
    if scanner is None:
        scanner = _worker.scanner = Scanner()
    columns = reader(start, count)
    if len(columns.headers) != count:
        return [Block(start, count, None, {})]
    blocks = []
    for at in range(0, count, SCAN_BLOCK):
        part = columns.rows(at, at + SCAN_BLOCK)
        leaves = hashing.leaf_hashes(part.headers)
        local = scanner.local(start + at, part, leaves)
        nodes = None if local is None else subtree_nodes(start + at, leaves, sizes)
        if nodes is None:
            blocks.append(Block(start + at, len(leaves), None, {}))
        else:
            blocks.append(Block(start + at, len(leaves), local, nodes))
    return blocks


def prefetched(
    reader: ChunkReader,
    workers: int,
    executor: Executor | None,
    end: int,
    chunk_size: int,
    sizes: frozenset[int],
) -> Generator[list[Block], None, None]:
    """The blocks of every chunk of ``[0, end)``, chunk after chunk in seq order, read and
    checked by ``workers`` spawned processes (or ``executor``) at most ``AHEAD * workers``
    chunks ahead (bounded memory). Closing the iterator cancels the chunks not started."""
    starts = iter(range(0, end, chunk_size))
    pool = executor or ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[Future[list[Block]]] = deque()

    def submit() -> None:
        start = next(starts, None)
        if start is not None:
            pending.append(pool.submit(read_and_scan, reader, start, chunk_size, sizes))

    try:
        for _ in range(AHEAD * workers):
            submit()
        while pending:
            blocks = pending.popleft().result()
            submit()
            yield blocks
    finally:
        for future in pending:
            future.cancel()
        if executor is None:
            pool.shutdown(wait=True, cancel_futures=True)


def verify_parallel(
    run: Run,
    reader: ChunkReader,
    workers: int,
    executor: Executor | None,
    end: int,
    chunk_size: int,
    progress: Callable[[], None],
) -> int:
    """Verify entries ``[0, end)`` (whole chunks) with the stateless checks in workers; return
    ``end`` when every chunk was read by a worker, 0 when the sequential pass takes over early.

    Workers read and check chunks ahead, in parallel; here each block's result is applied in
    seq order to the one true state (:meth:`Scanner.apply`: position, prev link, patient
    chains, erasures; then the tree and checkpoints). A block a worker declined, or whose
    result does not apply, is read again here and goes through the sequential path, which
    accepts it or raises the fault with its seq, exactly as without workers; the parallel pass
    resumes after it. Chunks are read in separate transactions: the ledger is append-only
    and an erasure's nulled payloads commit together with its later erasure entry, which the
    sequential tail after ``end`` reads last."""
    assert run.scanner is not None  # workers run the fast path: not for a reference-only run
    sizes = frozenset(run.checkpoints.by_size)
    results = prefetched(reader, workers, executor, end, chunk_size, sizes)
    try:
        for blocks in results:
            for block in blocks:
                if block.start < run.state.position:
                    continue  # already verified by a sequential re-read
                if block.start > run.state.position:
                    return 0  # a re-read stopped short: the sequential pass takes over
                if block.local is not None and run.scanner.apply(run.state, block.local):
                    push_nodes(run.tree, block.count, block.nodes, run.checkpoints)
                else:
                    run.chunk(run.store.entries(block.start, block.count))
            progress()
        return end
    finally:
        results.close()
