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

import contextlib
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256

from ledger import merkle
from ledger.checkpoint import Checkpoint, verify_checkpoint
from ledger.entry import Entry, Header, parse_header
from ledger.errors import CheckpointError, EntryError, FaultKind, LedgerFault, NoteError
from ledger.note import NoteVerifier, parse_note
from ledger.scan import Columns, Local, Scanner, ScanState
from ledger.store import LedgerStore

SCAN_BLOCK = 1024
"""Entries the fast pass takes at a time, whatever the read size: a block's headers and their
parts stay in the CPU caches (4096 at a time ran about 25% slower)."""

Progress = Callable[[int, int], None]
"""Called as progress(entries_done, entries_total) after each chunk."""

ChunkReader = Callable[[int, int], Columns]
"""``reader(first, limit)``: up to ``limit`` stored entries from seq ``first`` on, in seq order,
as :meth:`LedgerStore.entries` gives them but as columns, callable in a worker process:
picklable, opening its own connection there (``models.database.LedgerReader``)."""

AHEAD = 3
"""Chunks read ahead per worker in a parallel verification."""

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


class _FaultError(Exception):
    def __init__(self, seq: int, kind: FaultKind, detail: str) -> None:
        super().__init__(detail)
        self.seq, self.kind, self.detail = seq, kind, detail


def _peek_seq(entry: Entry | None) -> int | None:
    if entry is None:
        return None
    try:
        return parse_header(entry.header)["seq"]
    except EntryError:
        return None


def _peek_prev(entry: Entry | None) -> str | None:
    try:
        return None if entry is None else parse_header(entry.header)["prev"]
    except EntryError:
        return None


def _check_payload(
    state: ScanState, p: int, entry: Entry, header: Header, ref: bytes | None
) -> None:
    """Open the payload commitment, or account for an erased payload."""
    if entry.payload is None and entry.salt is None:
        if ref is None:
            raise _FaultError(
                p, "payload_mismatch", "payload destroyed on an entry with no patient"
            )
        state.unjustified.setdefault(ref, p)
        state.erased += 1
    elif entry.payload is None or entry.salt is None:
        raise _FaultError(p, "payload_mismatch", "exactly one of payload and salt is missing")
    else:
        got = sha256(entry.salt + entry.payload).hexdigest()
        if got != header["payload_hash"]:
            raise _FaultError(
                p,
                "payload_mismatch",
                f"payload commitment is {got}, header says {header['payload_hash']}",
            )


def _check_one(
    state: ScanState,
    entry: Entry,
    after: Callable[[], Entry | None],
    stored_leaf: Callable[[int], bytes | None],
) -> bytes:
    """Reference check of the entry at ``state.position``; returns its leaf hash.

    ``after()`` gives the next stored entry (to tell a deletion from a reordering, and which
    of two linked entries changed); ``stored_leaf(seq)`` the level-0 Merkle node the store
    kept, used only as a hint to locate a change when no successor can tell."""
    p = state.position
    leaf = sha256(b"\x00" + entry.header).digest()
    try:
        header: Header = parse_header(entry.header)
    except EntryError as exc:
        raise _FaultError(p, "modified", f"header is not a canonical v1 header: {exc}") from exc
    seq = header["seq"]
    if seq > p:
        following = _peek_seq(after())
        if following is None or following == seq + 1:
            raise _FaultError(
                p, "deleted", f"expected seq {p}, got {seq}: {seq - p} entry(ies) gone"
            )
        raise _FaultError(p, "reordered", f"expected seq {p}, got {seq}, then seq {following}")
    if seq < p:
        # Two entries claim ``seq``; the genuine one is the one its successor links to.
        successor = after()
        linked = (
            _peek_prev(successor) == leaf.hex()
            if successor is not None
            else stored_leaf(seq) == leaf
        )
        genuine_here = seq == p - 1 and linked
        where = p - 1 if genuine_here else p
        raise _FaultError(where, "inserted", f"entries {p - 1} and {p} both claim seq {seq}")
    if leaf != entry.leaf_hash:
        raise _FaultError(
            p, "modified", f"header hashes to {leaf.hex()}, stored leaf {entry.leaf_hash.hex()}"
        )
    expected_prev = None if state.last_leaf is None else state.last_leaf.hex()
    if header["prev"] != expected_prev:
        successor = after()
        witness = (
            _peek_prev(successor) == leaf.hex()
            if successor is not None
            else stored_leaf(p - 1) not in (None, state.last_leaf)
        )
        if p > 0 and witness:
            raise _FaultError(
                p - 1,
                "modified",
                f"entry {p} says prev {header['prev']}, entry {p - 1} hashes to {expected_prev}",
            )
        raise _FaultError(p, "modified", f"prev is {header['prev']}, expected {expected_prev}")
    ref_text = header["patient_ref"]
    ref = None if ref_text is None else b'patient_ref":"%s"' % ref_text.encode()
    if ref is not None:
        last = state.patient_seqs.get(ref)
        want_seq = 0 if last is None else last + 1
        want_prev = None if last is None else state.patient_leaves[ref][15:-1].decode()
        if header["patient_seq"] != want_seq or header["patient_prev"] != want_prev:
            raise _FaultError(
                p,
                "modified",
                f"patient chain: expected patient_seq {want_seq} and patient_prev {want_prev}, "
                f"got {header['patient_seq']} and {header['patient_prev']}",
            )
    _check_payload(state, p, entry, header, ref)
    if header["kind"] == "erasure" and ref is not None:
        state.unjustified.pop(ref, None)
    if ref is not None:
        state.patient_seqs[ref] = want_seq
        state.patient_leaves[ref] = b'patient_prev":"%s"' % leaf.hex().encode()
    state.last_leaf = leaf
    state.position = p + 1
    return leaf


@dataclass
class _Checkpoints:
    by_size: dict[int, list[Checkpoint]]
    pending: tuple[int, str] | None = None

    def check(self, size: int, root: bytes) -> None:
        signed = self.by_size.get(size)
        if not signed:
            return
        good = [c for c in signed if c.root == root]
        bad = [c for c in signed if c.root != root]
        if bad and (good or len({c.root for c in bad}) > 1):
            raise _FaultError(size - 1, "forked", f"two signed checkpoints of size {size} differ")
        if self.pending is not None:
            old_size, detail = self.pending
            if good:
                raise _FaultError(
                    old_size - 1,
                    "forked",
                    f"{detail}, yet the signed checkpoint of size {size} matches the entries",
                )
            raise _FaultError(old_size - 1, "modified", detail)
        if bad:
            self.pending = (
                size,
                f"root of the first {size} entries is {root.hex()}, "
                f"the signed checkpoint says {bad[0].root.hex()}",
            )

    def settle(self) -> None:
        if self.pending is not None:
            size, detail = self.pending
            raise _FaultError(size - 1, "modified", detail)


def _load_checkpoints(
    notes: Sequence[str], verifier: NoteVerifier, origin: str | None
) -> _Checkpoints:
    by_size: dict[int, list[Checkpoint]] = {}
    for number, note in enumerate(notes):
        try:
            checkpoint = verify_checkpoint(note, verifier, origin)
        except (NoteError, CheckpointError) as exc:
            size = 0
            with contextlib.suppress(NoteError, CheckpointError):
                size = Checkpoint.parse(parse_note(note)[0]).size
            raise LedgerFault(
                max(size - 1, 0), "bad_signature", f"checkpoint #{number}: {exc}"
            ) from exc
        by_size.setdefault(checkpoint.size, []).append(checkpoint)
    return _Checkpoints(by_size)


def _chunk_levels(leaves: list[bytes]) -> list[list[bytes]]:
    levels = [leaves]
    while len(levels[-1]) > 1:
        row = levels[-1]
        pairs = zip(row[0 : len(row) - 1 : 2], row[1::2], strict=True)
        levels.append([sha256(b"\x01" + left + right).digest() for left, right in pairs])
    return levels


def _subtree_nodes(
    start: int, leaves: list[bytes], sizes: Collection[int]
) -> dict[merkle.NodeKey, bytes] | None:
    """The nodes, keyed (level, index) inside the chunk, that extending a tree of ``start``
    leaves by ``leaves`` and checking the checkpoint ``sizes`` within it will need; None when
    the chunk is not an aligned subtree (``start`` a multiple of its power-of-two span)."""
    if start % (1 << max(len(leaves) - 1, 0).bit_length()):
        return None
    levels = _chunk_levels(leaves)
    end = start + len(leaves)
    keys = set(merkle.range_keys(0, len(leaves)))
    for size in sizes:
        if start < size <= end:
            keys.update(merkle.range_keys(0, size - start))
    return {(lv, ix): levels[lv][ix] for lv, ix in keys}


def _push_nodes(
    tree: merkle.CompactRange,
    count: int,
    nodes: dict[merkle.NodeKey, bytes],
    checkpoints: _Checkpoints,
) -> None:
    """Extend ``tree`` by an aligned chunk of ``count`` leaves given by its :func:`_subtree_nodes`,
    checking every checkpoint size reached on the way."""
    start = tree.size
    before = tree.frontier()
    for size in sorted(s for s in checkpoints.by_size if start < s <= start + count):
        local = [nodes[key] for key in merkle.range_keys(0, size - start)]
        checkpoints.check(size, merkle.fold(before + local))
    for key in merkle.range_keys(0, count):
        tree.push_node(key[0], nodes[key])


def _advance_tree(
    tree: merkle.CompactRange, leaves: list[bytes], checkpoints: _Checkpoints
) -> None:
    """Push ``leaves`` into ``tree``, checking every checkpoint size reached on the way."""
    nodes = _subtree_nodes(tree.size, leaves, checkpoints.by_size)
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
    checkpoints: _Checkpoints
    state: ScanState = field(default_factory=ScanState)
    scanner: Scanner = field(default_factory=Scanner)
    tree: merkle.CompactRange = field(default_factory=merkle.CompactRange)

    def chunk(self, chunk: Sequence[Entry]) -> None:
        """Verify a read chunk starting at ``state.position``: fast pass a block at a time,
        the reference path for any block it declines (which raises the fault, if any)."""
        for start in range(0, len(chunk), SCAN_BLOCK):
            entries = chunk[start : start + SCAN_BLOCK]
            leaves = [sha256(b"\x00" + e.header).digest() for e in entries]
            if self.scanner.chunk(self.state, entries, leaves):
                _advance_tree(self.tree, leaves, self.checkpoints)
            else:
                _slow_chunk(self.store, self.state, entries, self.tree, self.checkpoints)


@dataclass(frozen=True, slots=True)
class _Block:
    """A worker's verdict on one scan block: its :class:`Local` (None: declined, or not read
    whole) and the subtree nodes the tree needs."""

    start: int
    count: int
    local: Local | None
    nodes: dict[merkle.NodeKey, bytes]


_worker = threading.local()


def _read_and_scan(
    reader: ChunkReader, start: int, count: int, sizes: frozenset[int]
) -> list[_Block]:
    """In a worker: read ``count`` entries from ``start`` and run every stateless check."""
    scanner = getattr(_worker, "scanner", None)
    if scanner is None:
        scanner = _worker.scanner = Scanner()
    columns = reader(start, count)
    if len(columns.headers) != count:
        return [_Block(start, count, None, {})]
    blocks = []
    for at in range(0, count, SCAN_BLOCK):
        part = columns.rows(at, at + SCAN_BLOCK)
        leaves = [sha256(b"\x00" + header).digest() for header in part.headers]
        local = scanner.local(start + at, part, leaves)
        nodes = None if local is None else _subtree_nodes(start + at, leaves, sizes)
        if nodes is None:
            blocks.append(_Block(start + at, len(leaves), None, {}))
        else:
            blocks.append(_Block(start + at, len(leaves), local, nodes))
    return blocks


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
    starts = iter(range(0, end, chunk_size))
    pool = executor or ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[Future[list[_Block]]] = deque()

    def submit() -> None:
        start = next(starts, None)
        if start is not None:
            pending.append(pool.submit(_read_and_scan, reader, start, chunk_size, sizes))

    try:
        for _ in range(AHEAD * workers):  # chunks read ahead: bounded memory
            submit()
        while pending:
            blocks = pending.popleft().result()
            submit()
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
        for future in pending:
            future.cancel()
        if executor is None:
            pool.shutdown(wait=True, cancel_futures=True)


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
    checkpoints = _load_checkpoints(ledger.checkpoints(), verifier, origin)
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
            raise _FaultError(
                first, "payload_mismatch", "payload destroyed with no later erasure entry"
            )
        beyond = [s for s in checkpoints.by_size if s > state.position]
        if beyond:
            raise _FaultError(
                state.position,
                "truncated",
                f"{state.position} entries stored, a checkpoint signed {max(beyond)}",
            )
        if state.position < total:
            raise _FaultError(
                state.position,
                "deleted",
                f"the store's head says {total} entries, only {state.position} remain",
            )
    except _FaultError as fault:
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


def _slow_chunk(
    store: LedgerStore,
    state: ScanState,
    chunk: Sequence[Entry],
    tree: merkle.CompactRange,
    checkpoints: _Checkpoints,
) -> None:
    """Entry-by-entry reference path; on a fault, first settle checkpoints it already passed."""
    entries_of = store.entries

    def stored_leaf(seq: int) -> bytes | None:
        return store.nodes([(0, seq)]).get((0, seq))

    for i, entry in enumerate(chunk):

        def after(i: int = i) -> Entry | None:
            if i + 1 < len(chunk):
                return chunk[i + 1]
            following: Sequence[Entry] = entries_of(state.position + 1, 1)
            return following[0] if following else None

        try:
            leaf = _check_one(state, entry, after, stored_leaf)
        except _FaultError as fault:
            # A checkpoint mismatch seen just before is explained by this fault if the fault
            # lies inside that checkpoint's tree; otherwise the mismatch is the first fault.
            if checkpoints.pending is not None and fault.seq >= checkpoints.pending[0]:
                checkpoints.settle()
            raise
        tree.push_leaf(leaf)
        if tree.size in checkpoints.by_size:
            checkpoints.check(tree.size, tree.root())
