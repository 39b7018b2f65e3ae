"""RFC 9162 Merkle tree over stored perfect-subtree nodes.

A node ``(level, index)`` is the root of the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 nodes are the leaf hashes. Once written a
node never changes, so a store keeps them all (table ``merkle_nodes(level, idx, hash)``).
Every root or proof for a tree of size ``n`` needs O(log n) nodes, fetched in ONE batch through
:class:`NodeReader`. Verifiers follow transparency-dev/merkle (the Go library whose vectors we
pass), including its edge cases. The checks that need no store (inclusion and consistency
proofs against a root) live in :mod:`ledger.proofs` and are re-exported here.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Mapping, Sequence
from itertools import repeat
from typing import Protocol

from ledger.errors import (
    InclusionProofError,
    MissingNodeError,
    ProofError,
)
from ledger.hashing import EMPTY_ROOT, HASH_SIZE, node_hash, parent_row
from ledger.proofs import root_from_inclusion_proof, verify_consistency, verify_inclusion

__all__ = [
    "CompactRange",
    "Node",
    "NodeKey",
    "NodeReader",
    "Nodes",
    "consistency_proof",
    "fold",
    "frontier_keys",
    "inclusion_proof",
    "inclusion_proofs",
    "new_nodes",
    "range_keys",
    "root",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
    "verify_leaves",
]

NodeKey = tuple[int, int]
"""(level, index) of a perfect subtree."""
Node = tuple[int, int, bytes]
"""(level, index, hash): what an append asks the store to persist."""


class NodeReader(Protocol):
    """Batch read of stored nodes; a SQL store answers with one query."""

    def nodes(self, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Return the stored hash of every key present; absent keys are simply left out."""
        ...


class Nodes:
    """A NodeReader over nodes already read (e.g. a frontier fetched with other queries)."""

    def __init__(self, known: Mapping[NodeKey, bytes]) -> None:
        self._known = known

    def nodes(self, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {key: self._known[key] for key in keys if key in self._known}


def range_keys(begin: int, end: int) -> list[NodeKey]:
    """The perfect nodes covering leaves ``[begin, end)``, left to right, largest first.

    Precondition: ``0 <= begin <= end``. For the ranges RFC 9162 hashes (a tree prefix, or a
    subtree aligned on a power of two at least its size) folding these nodes from the right
    gives the RFC hash of the range."""
    if not 0 <= begin <= end:
        raise ProofError(f"bad leaf range [{begin}, {end})")
    width = end - begin
    if width and not width & (width - 1) and not begin & (width - 1):  # one perfect node
        level = width.bit_length() - 1
        return [(level, begin >> level)]
    keys: list[NodeKey] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        keys.append((level, begin >> level))
        begin += 1 << level
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the nodes of a range (left to right) into the range's hash, right first."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _fetch(reader: NodeReader, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
    found = reader.nodes(keys)
    if len(found) == len(keys) and all(map(found.__contains__, keys)):
        return found
    missing = [key for key in keys if key not in found]
    if missing:
        raise MissingNodeError(f"node store lacks {len(missing)} node(s), first {missing[0]}")
    return found


def _range_hashes(reader: NodeReader, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    per_range = [range_keys(begin, end) for begin, end in ranges]
    found = _fetch(reader, {key for keys in per_range for key in keys})
    return [fold([found[key] for key in keys]) for keys in per_range]


def root(reader: NodeReader, size: int) -> bytes:
    """Root hash of the tree of the first ``size`` leaves (SHA-256 of "" when empty)."""
    if size < 0:
        raise ProofError(f"negative tree size {size}")
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes(reader, [(0, size)])[0]


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    inner = (index ^ (size - 1)).bit_length()
    for level in range(inner):
        begin = ((index >> level) ^ 1) << level
        ranges.append((begin, min(begin + (1 << level), size)))
    for level in range(inner, size.bit_length()):
        if (index >> level) & 1:
            begin = ((index >> level) ^ 1) << level
            ranges.append((begin, begin + (1 << level)))
    return ranges


def inclusion_proof(reader: NodeReader, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3 inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    Precondition: ``0 <= index < size`` and the store holds the first ``size`` leaves."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    return _range_hashes(reader, _inclusion_ranges(index, size))


def inclusion_proofs(reader: NodeReader, indices: Sequence[int], size: int) -> list[list[bytes]]:
    """Inclusion proofs of many leaves in one tree, with a single batched node fetch.

    Works level by level: at level ``L`` the proof of leaf ``i`` holds the sibling node
    ``s = (i >> L) ^ 1`` when it is a perfect node (``(s + 1) << L <= size``), the fold of the
    partial range ``[s << L, size)`` when ``s`` is the tree's last node at that level and is not
    perfect, and nothing when ``s << L >= size``: RFC 9162's order, bottom up. Nodes shared
    between proofs are fetched and folded once."""
    for index in indices:
        if not 0 <= index < size:
            raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    if not indices:
        return []
    siblings: list[list[int]] = []
    wanted: list[NodeKey] = []  # distinct keys
    perfect_siblings: list[set[int]] = []
    partial: dict[int, list[NodeKey]] = {}
    for level in range((size - 1).bit_length()):
        row = [(index >> level) ^ 1 for index in indices]
        siblings.append(row)
        distinct = set(row)
        perfect = size >> level
        perfect_siblings.append({s for s in distinct if s < perfect})
        wanted.extend(zip(repeat(level), perfect_siblings[-1]))
        last = (size - 1) >> level
        if last >= perfect and last in distinct:  # the right edge at this level is partial
            partial[level] = range_keys(last << level, size)
    extra = {key for keys in partial.values() for key in keys}
    wanted.extend(key for key in extra if key[1] not in perfect_siblings[key[0]])
    found = _fetch(reader, wanted)
    columns: list[list[bytes | None]] = []
    uneven: set[int] = set()
    for level, row in enumerate(siblings):
        column: list[bytes | None] = list(map(found.get, zip(repeat(level), row)))
        if level in partial:
            last, hashed = (size - 1) >> level, fold([found[key] for key in partial[level]])
            column = [hashed if s == last else h for s, h in zip(row, column, strict=True)]
        if None in column:  # no sibling at this level for some leaves (right edge)
            uneven.update(i for i, h in enumerate(column) if h is None)
        columns.append(column)
    proofs: list[list[bytes]] = list(map(list, zip(*columns, strict=True)))
    for i in uneven:
        proofs[i] = [h for h in proofs[i] if h is not None]
    if not columns:
        return [[] for _ in indices]
    return proofs


def consistency_proof(reader: NodeReader, size1: int, size2: int) -> list[bytes]:
    """RFC 9162 §2.1.4 consistency proof from ``size1`` to ``size2`` (empty when the sizes are
    equal or ``size1`` is 0). Precondition: ``0 <= size1 <= size2``, store holds ``size2``."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"cannot prove consistency from size {size1} to size {size2}")
    if size1 in (0, size2):
        return []
    shift = (size1 & -size1).bit_length() - 1
    ranges = _inclusion_ranges(size1 - 1, size2)[shift:]
    if size1 != 1 << shift:
        begin = ((size1 - 1) >> shift) << shift
        ranges.insert(0, (begin, size1))
    return _range_hashes(reader, ranges)


def frontier_keys(size: int) -> list[NodeKey]:
    """The right edge of a tree of ``size`` leaves: the roots of its maximal perfect
    subtrees, the only nodes an append combines with (what :func:`new_nodes` reads)."""
    if size < 0:
        raise ProofError(f"negative tree size {size}")
    return [
        (level, (size >> level) - 1) for level in range(size.bit_length()) if (size >> level) & 1
    ]


def new_nodes(reader: NodeReader, size: int, leaves: Sequence[bytes]) -> list[Node]:
    """The nodes to persist when ``leaves`` are appended to a tree of ``size`` leaves: every
    new leaf (level 0) and every perfect subtree they complete. Reads the O(log n) frontier
    nodes in one batch. Precondition: the store holds all nodes of the first ``size`` leaves."""
    wanted = frontier_keys(size)
    frontier = _fetch(reader, wanted) if wanted else {}
    out: list[Node] = []
    level = 0
    lo = size
    current = list(leaves)
    while current:
        out.extend((level, lo + offset, digest) for offset, digest in enumerate(current))
        if lo & 1:
            current.insert(0, frontier[(level, lo - 1)])
            lo -= 1
        current = parent_row(current)
        level += 1
        lo //= 2
    return out


def verify_leaves(
    reader: NodeReader, size: int, leaves: Mapping[int, bytes], root_hash: bytes
) -> None:
    """Check that every ``leaves[index]`` is the leaf hash at ``index`` in the stored tree of
    ``size`` leaves whose root is ``root_hash``: one multi-leaf proof.

    The tree's maximal perfect subtrees (:func:`range_keys` of the whole tree) are read and
    folded to the root; then, inside each subtree holding given leaves, the path from those
    leaves up to its root is hashed level by level with the stored siblings, each node once.
    Many inclusion proofs of one tree share their upper nodes, and this hashes them once: for
    10 k leaves of a 1 M tree about 85 k hashes instead of 195 k. One batched read.
    Raises InclusionProofError (which subtree failed, not which leaf: verify that subtree's
    leaves one by one with :func:`verify_inclusion` to name it) or MissingNodeError."""
    if not leaves:
        return
    if min(leaves) < 0 or max(leaves) >= size:
        raise InclusionProofError(f"a leaf index is outside a tree of size {size}")
    tops = range_keys(0, size)
    starts = [index << level for level, index in tops]
    groups: dict[NodeKey, dict[int, bytes]] = {}
    for index, digest in leaves.items():
        if len(digest) != HASH_SIZE:
            raise InclusionProofError(f"leaf {index}: {len(digest)} bytes, expected {HASH_SIZE}")
        groups.setdefault(tops[bisect_right(starts, index) - 1], {})[index] = digest
    wanted = set(tops)
    for (height, _), group in groups.items():
        row = set(group)
        for level in range(height):
            wanted.update((level, s ^ 1) for s in row if s ^ 1 not in row)
            row = {s >> 1 for s in row}
    found = _fetch(reader, wanted)
    if fold([found[key] for key in tops]) != root_hash:
        raise InclusionProofError(f"the stored subtrees of {size} leaves do not fold to the root")
    for top, group in groups.items():
        current = group
        for level in range(top[0]):
            above: dict[int, bytes] = {}
            for s, digest in current.items():
                if s >> 1 in above:
                    continue
                other = current.get(s ^ 1) or found[(level, s ^ 1)]
                above[s >> 1] = node_hash(other, digest) if s & 1 else node_hash(digest, other)
            current = above
        if current[top[1]] != found[top]:
            raise InclusionProofError(f"a leaf under node {top} is not the stored one")


class CompactRange:
    """The perfect-subtree frontier of a growing tree: O(log n) memory, appends and roots.

    Used to recompute roots while streaming leaves (whole-ledger verification)."""

    __slots__ = ("_levels", "_nodes", "size")

    def __init__(self) -> None:
        self.size = 0
        self._levels: list[int] = []
        self._nodes: list[bytes] = []

    def push_node(self, level: int, digest: bytes) -> None:
        """Append a perfect subtree of ``2**level`` leaves. Precondition: ``size`` is a
        multiple of ``2**level`` (the node is aligned)."""
        if self.size & ((1 << level) - 1):
            raise ProofError(f"node of level {level} is not aligned at size {self.size}")
        self.size += 1 << level
        levels, nodes = self._levels, self._nodes
        while levels and levels[-1] == level:
            levels.pop()
            digest = node_hash(nodes.pop(), digest)
            level += 1
        levels.append(level)
        nodes.append(digest)

    def push_leaf(self, leaf_hash: bytes) -> None:
        """Append one leaf hash."""
        self.push_node(0, leaf_hash)

    def frontier(self) -> list[bytes]:
        """The frontier node hashes, left to right."""
        return list(self._nodes)

    def root(self) -> bytes:
        """Root hash of the leaves pushed so far."""
        return fold(self._nodes) if self._nodes else EMPTY_ROOT
