"""The worker side of a parallel whole-ledger verification (``ledger.verify``).

Worker processes read chunks through a :data:`ChunkReader` and run every check that needs no
ledger state (:meth:`ledger.scan.Scanner.local`), plus the subtree nodes the Merkle tree will
need; :func:`prefetched` keeps a bounded number of chunks in flight and yields their results in
seq order, for the verifying process to apply to the one true state.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Collection, Generator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass

from ledger import hashing, merkle
from ledger.scan import SCAN_BLOCK, Columns, Local, Scanner

ChunkReader = Callable[[int, int], Columns]
"""``reader(first, limit)``: up to ``limit`` stored entries from seq ``first`` on, in seq order,
as :meth:`LedgerStore.entries` gives them but as columns, callable in a worker process:
picklable, opening its own connection there (``models.database.LedgerReader``)."""

AHEAD = 3
"""Chunks read ahead per worker."""


def chunk_levels(leaves: list[bytes]) -> list[list[bytes]]:
    levels = [leaves]
    while len(levels[-1]) > 1:
        levels.append(hashing.parent_row(levels[-1]))
    return levels


def subtree_nodes(
    start: int, leaves: list[bytes], sizes: Collection[int]
) -> dict[merkle.NodeKey, bytes] | None:
    """The nodes, keyed (level, index) inside the chunk, that extending a tree of ``start``
    leaves by ``leaves`` and checking the checkpoint ``sizes`` within it will need; None when
    the chunk is not an aligned subtree (``start`` a multiple of its power-of-two span)."""
    if start % (1 << max(len(leaves) - 1, 0).bit_length()):
        return None
    levels = chunk_levels(leaves)
    end = start + len(leaves)
    keys = set(merkle.range_keys(0, len(leaves)))
    for size in sizes:
        if start < size <= end:
            keys.update(merkle.range_keys(0, size - start))
    return {(lv, ix): levels[lv][ix] for lv, ix in keys}


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
