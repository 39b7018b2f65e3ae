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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from hashlib import sha256

from ledger import merkle
from ledger.checkpoint import Checkpoint, verify_checkpoint
from ledger.entry import Entry, Header, parse_header
from ledger.errors import CheckpointError, EntryError, FaultKind, LedgerFault, NoteError
from ledger.note import NoteVerifier, parse_note
from ledger.scan import Scanner, ScanState
from ledger.store import LedgerStore

SCAN_BLOCK = 1024
"""Entries the fast pass takes at a time, whatever the read size: a block's headers and their
parts stay in the CPU caches (4096 at a time ran about 25% slower)."""

Progress = Callable[[int, int], None]
"""Called as progress(entries_done, entries_total) after each chunk."""


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """What a successful verification covered."""

    entries: int
    root: bytes
    checkpoints: int
    largest_checkpoint: int
    erased: int


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


def _advance_tree(
    tree: merkle.CompactRange, leaves: list[bytes], checkpoints: _Checkpoints
) -> None:
    """Push ``leaves`` into ``tree``, checking every checkpoint size reached on the way."""
    start = tree.size
    sizes = [s for s in checkpoints.by_size if start < s <= start + len(leaves)]
    aligned = start % (1 << max(len(leaves) - 1, 0).bit_length()) == 0
    if not aligned:
        for i, leaf in enumerate(leaves):
            tree.push_leaf(leaf)
            if start + i + 1 in checkpoints.by_size:
                checkpoints.check(start + i + 1, tree.root())
        return
    levels = _chunk_levels(leaves)
    before = tree.frontier()
    for size in sorted(sizes):
        local = [levels[lv][ix] for lv, ix in merkle.range_keys(0, size - start)]
        checkpoints.check(size, merkle.fold(before + local))
    for level, index in merkle.range_keys(0, len(leaves)):
        tree.push_node(level, levels[level][index])


def verify_ledger(
    store: LedgerStore,
    verifier_key: NoteVerifier | str,
    *,
    origin: str | None = None,
    chunk_size: int = 4096,
    progress: Progress | None = None,
) -> LedgerReport:
    """Verify the whole ledger in ``store`` (a :class:`ledger.store.LedgerStore`) against the
    public ``verifier_key``. Reads ``chunk_size`` entries at a time (a power of two).
    Returns a report, or raises LedgerFault naming the first faulty seq and its kind."""
    ledger = store
    if chunk_size < 1 or chunk_size & (chunk_size - 1):
        raise ValueError(f"chunk_size must be a power of two, got {chunk_size}")
    verifier = (
        NoteVerifier.from_string(verifier_key) if isinstance(verifier_key, str) else verifier_key
    )
    checkpoints = _load_checkpoints(ledger.checkpoints(), verifier, origin)
    total = ledger.head().size
    state = ScanState()
    scanner = Scanner()
    tree = merkle.CompactRange()
    try:
        while True:
            chunk = ledger.entries(state.position, chunk_size)
            if not chunk:
                break
            block = min(chunk_size, SCAN_BLOCK)
            for start in range(0, len(chunk), block):
                entries = chunk[start : start + block]
                leaves = [sha256(b"\x00" + e.header).digest() for e in entries]
                if scanner.chunk(state, entries, leaves):
                    _advance_tree(tree, leaves, checkpoints)
                else:
                    _slow_chunk(ledger, state, entries, tree, checkpoints)
            if progress is not None:
                progress(state.position, total)
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
