"""One verification's state and how it advances: :class:`Run` takes chunks in seq order,
sends each block through the fast path or, if it declines, the reference path, and keeps the
Merkle tree and the signed checkpoints in step. Whole-ledger (:mod:`ledger.verify.full`),
parallel (:mod:`ledger.verify.parallel`) and incremental (:mod:`ledger.verify.incremental`)
verification all drive one."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from ledger import hashing, merkle
from ledger.entry import Entry
from ledger.store import LedgerStore
from ledger.verify.fast import SCAN_BLOCK, Scanner
from ledger.verify.reference import Checkpoints, FaultError, slow_chunk
from ledger.verify.state import ScanState


def chunk_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the perfect tree (or forest) over ``leaves``, leaves first."""
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


def push_nodes(
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
        push_nodes(tree, len(leaves), nodes, checkpoints)
        return
    start = tree.size
    for i, leaf in enumerate(leaves):
        tree.push_leaf(leaf)
        if start + i + 1 in checkpoints.by_size:
            checkpoints.check(start + i + 1, tree.root())


@dataclass
class Run:
    """One verification's state: the scan, the tree, the checkpoints, and the store the
    reference path reads from. ``scanner`` None: the reference path alone (the
    specification, entry by entry), as ``verify_ledger(..., fast=False)`` runs it."""

    store: LedgerStore
    checkpoints: Checkpoints
    scanner: Scanner | None = field(default_factory=Scanner)
    state: ScanState = field(default_factory=ScanState)
    tree: merkle.CompactRange = field(default_factory=merkle.CompactRange)

    def chunk(self, chunk: Sequence[Entry]) -> None:
        """Verify a read chunk starting at ``state.position``: fast pass a block at a time,
        the reference path for any block it declines (which raises the fault, if any)."""
        if self.scanner is None:
            slow_chunk(self.store, self.state, chunk, self.tree, self.checkpoints)
            return
        for start in range(0, len(chunk), SCAN_BLOCK):
            entries = chunk[start : start + SCAN_BLOCK]
            leaves = hashing.leaf_hashes([e.header for e in entries])
            if self.scanner.chunk(self.state, entries, leaves):
                _advance_tree(self.tree, leaves, self.checkpoints)
            else:
                slow_chunk(self.store, self.state, entries, self.tree, self.checkpoints)

    def finish(self, total: int) -> None:
        """The checks once every stored entry went through :meth:`chunk`: no checkpoint
        mismatch left pending, every destroyed payload justified by a later erasure entry, no
        checkpoint beyond the last entry, as many entries as the store's head says."""
        state = self.state
        self.checkpoints.settle()
        if state.unjustified:
            first = min(state.unjustified.values())
            raise FaultError(
                first, "payload_mismatch", "payload destroyed with no later erasure entry"
            )
        beyond = [s for s in self.checkpoints.by_size if s > state.position]
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
