"""The reference path of whole-ledger verification: the specification, entry by entry.

:func:`check_one` states what a stored entry must satisfy, given the state the entries before
it left (:class:`ledger.verify.state.ScanState`); :func:`slow_chunk` applies it to a chunk
and, at the first fault, raises :class:`FaultError` naming its seq and kind, telling a
deletion from a reordering or an insertion by looking at the entries around it.
:class:`Checkpoints` holds the signed checkpoints the recomputed roots must match. The fast
path (:mod:`ledger.verify.fast`) only ever accepts what this path accepts; every block it
declines comes here, and ``verify_ledger(..., fast=False)`` runs this path alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger import hashing, merkle
from ledger.checkpoint import Checkpoint, verify_checkpoint
from ledger.entry import Entry, Header, parse_header
from ledger.errors import CheckpointError, EntryError, FaultKind, LedgerFault, NoteError
from ledger.note import NoteVerifier, parse_note
from ledger.store import LedgerStore
from ledger.verify.state import ScanState


class FaultError(Exception):
    """A fault found at ``seq``; ``verify_ledger`` and ``verify_since`` raise it as
    :class:`LedgerFault`."""

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
            raise FaultError(p, "payload_mismatch", "payload destroyed on an entry with no patient")
        state.unjustified.setdefault(ref, p)
        state.erased += 1
    elif entry.payload is None or entry.salt is None:
        raise FaultError(p, "payload_mismatch", "exactly one of payload and salt is missing")
    else:
        got = hashing.payload_hash(entry.salt, entry.payload)
        if got != header["payload_hash"]:
            raise FaultError(
                p,
                "payload_mismatch",
                f"payload commitment is {got}, header says {header['payload_hash']}",
            )


def check_one(
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
    leaf = hashing.leaf_hash(entry.header)
    try:
        header: Header = parse_header(entry.header)
    except EntryError as exc:
        raise FaultError(p, "modified", f"header is not a canonical v1 header: {exc}") from exc
    seq = header["seq"]
    if seq > p:
        following = _peek_seq(after())
        if following is None or following == seq + 1:
            raise FaultError(
                p, "deleted", f"expected seq {p}, got {seq}: {seq - p} entry(ies) gone"
            )
        raise FaultError(p, "reordered", f"expected seq {p}, got {seq}, then seq {following}")
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
        raise FaultError(where, "inserted", f"entries {p - 1} and {p} both claim seq {seq}")
    if leaf != entry.leaf_hash:
        raise FaultError(
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
            raise FaultError(
                p - 1,
                "modified",
                f"entry {p} says prev {header['prev']}, entry {p - 1} hashes to {expected_prev}",
            )
        raise FaultError(p, "modified", f"prev is {header['prev']}, expected {expected_prev}")
    ref_text = header["patient_ref"]
    ref = None if ref_text is None else b'patient_ref":"%s"' % ref_text.encode()
    if ref is not None:
        last = state.patient_seqs.get(ref)
        want_seq = 0 if last is None else last + 1
        want_prev = None if last is None else state.patient_leaves[ref][15:-1].decode()
        if header["patient_seq"] != want_seq or header["patient_prev"] != want_prev:
            raise FaultError(
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
class Checkpoints:
    by_size: dict[int, list[Checkpoint]]
    pending: tuple[int, str] | None = None

    def check(self, size: int, root: bytes) -> None:
        signed = self.by_size.get(size)
        if not signed:
            return
        good = [c for c in signed if c.root == root]
        bad = [c for c in signed if c.root != root]
        if bad and (good or len({c.root for c in bad}) > 1):
            raise FaultError(size - 1, "forked", f"two signed checkpoints of size {size} differ")
        if self.pending is not None:
            old_size, detail = self.pending
            if good:
                raise FaultError(
                    old_size - 1,
                    "forked",
                    f"{detail}, yet the signed checkpoint of size {size} matches the entries",
                )
            raise FaultError(old_size - 1, "modified", detail)
        if bad:
            self.pending = (
                size,
                f"root of the first {size} entries is {root.hex()}, "
                f"the signed checkpoint says {bad[0].root.hex()}",
            )

    def settle(self) -> None:
        if self.pending is not None:
            size, detail = self.pending
            raise FaultError(size - 1, "modified", detail)


def load_checkpoints(
    notes: Sequence[str], verifier: NoteVerifier, origin: str | None
) -> Checkpoints:
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
    return Checkpoints(by_size)


def slow_chunk(
    store: LedgerStore,
    state: ScanState,
    chunk: Sequence[Entry],
    tree: merkle.CompactRange,
    checkpoints: Checkpoints,
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
            leaf = check_one(state, entry, after, stored_leaf)
        except FaultError as fault:
            # A checkpoint mismatch seen just before is explained by this fault if the fault
            # lies inside that checkpoint's tree; otherwise the mismatch is the first fault.
            if checkpoints.pending is not None and fault.seq >= checkpoints.pending[0]:
                checkpoints.settle()
            raise
        tree.push_leaf(leaf)
        if tree.size in checkpoints.by_size:
            checkpoints.check(tree.size, tree.root())
