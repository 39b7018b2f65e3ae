"""Whole-ledger verification over a store, streamed in chunks.

Checks, for every stored entry in order: the header is canonical v1 JSON; its hash equals the
stored leaf hash; ``seq`` is its position; ``prev`` is the previous leaf hash; the patient
chain (``patient_seq``/``patient_prev``); the payload commitment when the payload is still
there, and otherwise that a later ``erasure`` entry of that patient justifies its absence.
It recomputes the Merkle root at every stored checkpoint's size, checks every signature and
that the checkpoints are consistent. The first fault raises :class:`LedgerFault` with its seq
and kind. A fast vectorised pass handles clean chunks; any doubt re-runs the chunk through the
entry-by-entry path, which is the reference and names the fault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from ledger import hashing, merkle
from ledger.entry import Entry
from ledger.errors import LedgerFault
from ledger.note import NoteVerifier
from ledger.reference import Checkpoints, FaultError, load_checkpoints, slow_chunk
from ledger.scan import SCAN_BLOCK, Scanner, ScanState
from ledger.store import LedgerStore
from ledger.workers import ChunkReader, prefetched, subtree_nodes

Progress = Callable[[int, int], None]
"""Called as progress(entries_done, entries_total) after each chunk."""

PARALLEL_MIN = 1 << 17
"""Below this many entries a parallel verification runs in one process (starting workers
takes longer than it saves)."""


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """What a successful verification covered."""

    entries: int
    root: bytes
    checkpoints: int
    largest_checkpoint: int
    erased: int
    parallel: int = field(default=0, compare=False)
    """The first ``parallel`` entries were read and checked by worker processes (0: none)."""


def _push_nodes(
    tree: merkle.CompactRange,
    count: int,
    nodes: dict[merkle.NodeKey, bytes],
    checkpoints: Checkpoints,
) -> None:
    """Extend ``tree`` by an aligned chunk of ``count`` leaves given by its :func:`subtree_nodes`,
    checking every checkpoint size reached on the way."""
    start = tree.size
    before = tree.frontier()
    for size in sorted(s for s in checkpoints.by_size if start < s <= start + count):
        local = [nodes[key] for key in merkle.range_keys(0, size - start)]
        checkpoints.check(size, merkle.fold(before + local))
    for key in merkle.range_keys(0, count):
        tree.push_node(key[0], nodes[key])


def _advance_tree(tree: merkle.CompactRange, leaves: list[bytes], checkpoints: Checkpoints) -> None:
    """Push ``leaves`` into ``tree``, checking every checkpoint size reached on the way."""
    nodes = subtree_nodes(tree.size, leaves, checkpoints.by_size)
    if nodes is not None:
        _push_nodes(tree, len(leaves), nodes, checkpoints)
        return
    start = tree.size
    for i, leaf in enumerate(leaves):
        tree.push_leaf(leaf)
        if start + i + 1 in checkpoints.by_size:
            checkpoints.check(start + i + 1, tree.root())


@dataclass
class _Run:
    """One verification's state: the scan, the tree, the checkpoints, and the store the
    reference path reads from."""

    store: LedgerStore
    checkpoints: Checkpoints
    state: ScanState = field(default_factory=ScanState)
    scanner: Scanner = field(default_factory=Scanner)
    tree: merkle.CompactRange = field(default_factory=merkle.CompactRange)

    def chunk(self, chunk: Sequence[Entry]) -> None:
        """Verify a read chunk starting at ``state.position``: fast pass a block at a time,
        the reference path for any block it declines (which raises the fault, if any)."""
        for start in range(0, len(chunk), SCAN_BLOCK):
            entries = chunk[start : start + SCAN_BLOCK]
            leaves = hashing.leaf_hashes([e.header for e in entries])
            if self.scanner.chunk(self.state, entries, leaves):
                _advance_tree(self.tree, leaves, self.checkpoints)
            else:
                slow_chunk(self.store, self.state, entries, self.tree, self.checkpoints)


def _parallel(
    run: _Run,
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
                    _push_nodes(run.tree, block.count, block.nodes, run.checkpoints)
                else:
                    run.chunk(run.store.entries(block.start, block.count))
            progress()
        return end
    finally:
        results.close()


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
) -> LedgerReport:
    """Verify the whole ledger in ``store`` (a :class:`ledger.store.LedgerStore`) against the
    public ``verifier_key``. Reads ``chunk_size`` entries at a time (a power of two).
    Returns a report, or raises LedgerFault naming the first faulty seq and its kind.

    With a ``reader`` and ``workers > 1``, ledgers of :data:`PARALLEL_MIN` entries or more are
    read and checked chunk by chunk in that many worker processes (``executor`` replaces
    them, for tests); this process then applies each chunk's result in order (see
    :func:`_parallel`). The outcome is the same as with one process."""
    ledger = store
    if chunk_size < 1 or chunk_size & (chunk_size - 1):
        raise ValueError(f"chunk_size must be a power of two, got {chunk_size}")
    verifier = (
        NoteVerifier.from_string(verifier_key) if isinstance(verifier_key, str) else verifier_key
    )
    checkpoints = load_checkpoints(ledger.checkpoints(), verifier, origin)
    total = ledger.head().size
    run = _Run(ledger, checkpoints)
    state, tree = run.state, run.tree

    def report_progress() -> None:
        if progress is not None:
            progress(state.position, total)

    try:
        parallel = 0
        if reader is not None and workers > 1 and (total >= PARALLEL_MIN or executor):
            end = total - total % chunk_size
            parallel = _parallel(run, reader, workers, executor, end, chunk_size, report_progress)
        while True:
            chunk = ledger.entries(state.position, chunk_size)
            if not chunk:
                break
            run.chunk(chunk)
            report_progress()
        checkpoints.settle()
        if state.unjustified:
            first = min(state.unjustified.values())
            raise FaultError(
                first, "payload_mismatch", "payload destroyed with no later erasure entry"
            )
        beyond = [s for s in checkpoints.by_size if s > state.position]
        if beyond:
            raise FaultError(
                state.position,
                "truncated",
                f"{state.position} entries stored, a checkpoint signed {max(beyond)}",
            )
        if state.position < total:
            raise FaultError(
                state.position,
                "deleted",
                f"the store's head says {total} entries, only {state.position} remain",
            )
    except FaultError as fault:
        raise LedgerFault(fault.seq, fault.kind, fault.detail) from None
    largest = max(checkpoints.by_size, default=0)
    return LedgerReport(
        state.position,
        tree.root(),
        sum(map(len, checkpoints.by_size.values())),
        largest,
        state.erased,
        parallel,
    )
