"""Checking RFC 9162 proofs with no store: inclusion and consistency, as a verifier holding
only a signed root does (a patient checking an export offline, a witness, an auditor).

The algorithms follow transparency-dev/merkle (the Go library whose vectors we pass),
including its edge cases. :mod:`ledger.merkle` builds the tree and the proofs from stored
nodes, and re-exports these checks under its own name (``merkle.verify_inclusion``...).
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.errors import ConsistencyProofError, InclusionProofError
from ledger.hashing import HASH_SIZE, node_hash


def _decompose(index: int, size: int) -> tuple[int, int]:
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, digest in enumerate(proof):
        seed = node_hash(digest, seed) if (index >> i) & 1 else node_hash(seed, digest)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, digest in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(digest, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for digest in proof:
        seed = node_hash(digest, seed)
    return seed


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` implies for ``leaf_hash`` at ``index`` in a tree of ``size``.

    Raises InclusionProofError when the index, leaf hash or proof length is impossible."""
    if not 0 <= index < size:
        raise InclusionProofError(f"index {index} is beyond tree size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise InclusionProofError(f"leaf hash has {len(leaf_hash)} bytes, expected {HASH_SIZE}")
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise InclusionProofError(
            f"proof has {len(proof)} hashes, expected {inner + border} for leaf {index} of {size}"
        )
    for position, digest in enumerate(proof):
        if len(digest) != HASH_SIZE:
            raise InclusionProofError(
                f"proof hash {position} has {len(digest)} bytes, expected {HASH_SIZE}"
            )
    seed = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(seed, proof[inner:])


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """Check that ``proof`` proves ``leaf_hash`` at ``index`` under ``root_hash`` of a tree of
    ``size`` leaves. Returns None or raises InclusionProofError (expected vs got)."""
    computed = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if computed != root_hash:
        raise InclusionProofError(
            f"root mismatch: proof gives {computed.hex()}, expected {root_hash.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that ``proof`` shows the tree (``size1``, ``root1``) is a prefix of (``size2``,
    ``root2``). Like transparency-dev/merkle: size1 = 0 is rejected (nothing to prove), equal
    sizes need an empty proof and equal roots. Returns None or raises ConsistencyProofError."""
    if size2 < size1:
        raise ConsistencyProofError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == 0:
        raise ConsistencyProofError("consistency proof with an empty first tree is meaningless")
    if size1 == size2:
        if proof:
            raise ConsistencyProofError(f"sizes are equal but the proof has {len(proof)} hashes")
        if root1 != root2:
            raise ConsistencyProofError(
                f"sizes are equal but roots differ: {root1.hex()} vs {root2.hex()}"
            )
        return
    if not proof:
        raise ConsistencyProofError("empty proof for different sizes")
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    if size1 == 1 << shift:
        seed, start = root1, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise ConsistencyProofError(
            f"proof has {len(proof)} hashes, expected {start + inner + border} "
            f"for sizes {size1} -> {size2}"
        )
    for position, digest in enumerate(proof):
        if len(digest) != HASH_SIZE:
            raise ConsistencyProofError(
                f"proof hash {position} has {len(digest)} bytes, expected {HASH_SIZE}"
            )
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash1 != root1:
        raise ConsistencyProofError(
            f"first root mismatch: proof gives {hash1.hex()}, expected {root1.hex()}"
        )
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if hash2 != root2:
        raise ConsistencyProofError(
            f"second root mismatch: proof gives {hash2.hex()}, expected {root2.hex()}"
        )
