"""The ledger's hashes, defined once (LEDGER.md; RFC 9162 §2.1.1 for the tree).

- leaf hash of an entry: SHA-256(0x00 || canonical header bytes);
- interior node: SHA-256(0x01 || left || right); the empty tree's root: SHA-256("");
- payload commitment: SHA-256(salt || JCS(payload)), in the header as lowercase hex.

Every module that hashes ledger data (the appender, the Merkle tree, whole-ledger and
incremental verification, the export bundle and its verifier) goes through this module. The
one-at-a-time functions are the definition; the batch forms (:func:`leaf_hashes`,
:func:`parent_row`, :func:`payload_digests`) compute the same hashes for the fast paths,
as one comprehension over the hasher instead of a Python call per hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256

HASHER = sha256
"""The hash function of the tree, the chains and the payload commitment."""
HASH_SIZE = 32
"""Bytes in every hash of the tree (a leaf, a node, a root)."""
LEAF_PREFIX = b"\x00"
"""RFC 9162 domain separation: prefixed to a leaf's data."""
NODE_PREFIX = b"\x01"
"""RFC 9162 domain separation: prefixed to the two children of an interior node."""
EMPTY_ROOT = HASHER(b"").digest()
"""Root hash of the tree of no leaves."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data); ``data`` is an entry's canonical header."""
    return HASHER(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return HASHER(NODE_PREFIX + left + right).digest()


def payload_digest(salt: bytes, payload: bytes) -> bytes:
    """Commitment to a payload: SHA-256(salt || JCS(payload)), as bytes."""
    return HASHER(salt + payload).digest()


def payload_hash(salt: bytes, payload: bytes) -> str:
    """The payload commitment as the header's ``payload_hash`` holds it: lowercase hex."""
    return HASHER(salt + payload).hexdigest()


def leaf_hashes(headers: Iterable[bytes]) -> list[bytes]:
    """:func:`leaf_hash` of each of ``headers``, in order."""
    hasher, prefix = HASHER, LEAF_PREFIX
    return [hasher(prefix + header).digest() for header in headers]


def parent_row(row: Sequence[bytes]) -> list[bytes]:
    """:func:`node_hash` of each pair ``(row[2i], row[2i + 1])``: the level above ``row`` in a
    perfect subtree. An odd last node has no pair here and is left out."""
    hasher, prefix = HASHER, NODE_PREFIX
    pairs = zip(row[0 : len(row) - 1 : 2], row[1::2], strict=True)
    return [hasher(prefix + left + right).digest() for left, right in pairs]


def payload_digests(salts: Iterable[bytes], payloads: Iterable[bytes]) -> list[bytes]:
    """:func:`payload_digest` of each (salt, payload) pair, in order. Raises TypeError when a
    salt or a payload is None (erased), so a caller can fall back to looking at each."""
    hasher = HASHER
    return [hasher(salt + payload).digest() for salt, payload in zip(salts, payloads, strict=True)]
