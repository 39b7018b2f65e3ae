"""The fast, vectorised pass of whole-ledger verification.

Canonical v1 headers end with ten fixed keys, so ``header.rsplit(b',"', 10)`` cuts a valid
header into its ``action..obligations`` prefix and one ``key":value`` part per field (a JSON
string cannot hold an unescaped ``"``, so ``,"`` only occurs between members). Parts whose
value is known in advance (``seq``, ``prev``, ``payload_hash``, the patient chain) are
compared with the expected bytes, column by column; the few free parts (prefix, reason,
policy version, time, patient_ref) take a handful of distinct values, each validated once by a
strict pattern and cached. The concatenation of valid parts is a valid canonical header, so
whatever this pass accepts the reference path accepts too; anything else is left to it.
"""

from __future__ import annotations

import re
from binascii import hexlify
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256

from ledger.entry import Entry

_S = rb'"[^"\\\x00-\x1f]*(?:\\(?:["\\bfnrt]|u00(?:0[0-7bef]|1[0-9a-f]))[^"\\\x00-\x1f]*)*"'
_OBL = rb'\{"recipients":\[(?:' + _S + rb"(?:," + _S + rb')*)?\],"type":' + _S + rb"\}"
PREFIX_RE = re.compile(
    rb'\{"action":' + _S + rb',"decision":"(?:permit|deny)","kind":"(decision|command|erasure)"'
    rb',"mode":' + _S + rb',"obligations":\[(?:' + _OBL + rb"(?:," + _OBL + rb")*)?\]"
)
REASON_RE = re.compile(rb'reason":' + _S)
POLICY_RE = re.compile(rb'policy_version":"[0-9a-f]{64}"')
REF_RE = re.compile(rb'patient_ref":"[0-9a-f]{64}"')
TIME_RE = re.compile(rb'time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z"')
NULL_REF = b'patient_ref":null'
NULL_PREV = b'patient_prev":null'
NULL_PSEQ = b'patient_seq":null'
V1 = b'v":1}'


@dataclass
class ScanState:
    """Verification state carried from chunk to chunk (shared with the reference path)."""

    position: int = 0
    last_leaf: bytes | None = None
    patient_seqs: dict[bytes, int] = field(default_factory=dict)
    """Last patient_seq per patient, keyed by the header part ``patient_ref":"<hex>"``
    (ints and bytes only: the cyclic GC never has to look at them)."""
    patient_leaves: dict[bytes, bytes] = field(default_factory=dict)
    """Leaf hash (lowercase hex bytes) of each patient's last entry, same keys."""
    unjustified: dict[bytes, int] = field(default_factory=dict)
    """First erased seq of each patient with no erasure entry yet, same keys."""
    erased: int = 0


@dataclass
class _Known:
    prefixes: dict[bytes, bytes] = field(default_factory=dict)
    reasons: set[bytes] = field(default_factory=set)
    policies: set[bytes] = field(default_factory=set)
    times: set[bytes] = field(default_factory=set)


def _learn(known: _Known, cols: list[tuple[bytes, ...]]) -> bool:
    for prefix in set(cols[0]).difference(known.prefixes):
        match = PREFIX_RE.fullmatch(prefix)
        if match is None:
            return False
        known.prefixes[prefix] = match.group(1)
    for reason in set(cols[7]).difference(known.reasons):
        if REASON_RE.fullmatch(reason) is None:
            return False
        known.reasons.add(reason)
    for policy in set(cols[5]).difference(known.policies):
        if POLICY_RE.fullmatch(policy) is None:
            return False
        known.policies.add(policy)
    if len(known.times) > 4096:
        known.times.clear()
    for time in set(cols[9]).difference(known.times):
        match = TIME_RE.fullmatch(time)
        if match is None:
            return False
        try:
            datetime.fromisoformat(match.group(1).decode())
        except ValueError:
            return False
        known.times.add(time)
    return True


_BLOCK = 256


def _columns(headers: list[bytes]) -> list[tuple[bytes, ...]] | None:
    """The 11 parts of every header, as columns; None when a header does not have 11.

    Split in small blocks so the per-header lists die young (a whole chunk of live lists
    would be promoted by the cyclic GC and trigger costly full collections)."""
    columns: list[list[bytes]] = [[] for _ in range(11)]
    for start in range(0, len(headers), _BLOCK):
        split = [h.rsplit(b',"', 10) for h in headers[start : start + _BLOCK]]
        if any(len(parts) != 11 for parts in split):
            return None
        for column, part in zip(columns, zip(*split, strict=True), strict=True):
            column.extend(part)
        del split
    return [tuple(column) for column in columns]


class Scanner:
    """Runs the fast pass chunk after chunk, remembering validated header parts."""

    def __init__(self) -> None:
        self._known = _Known()
        self._seq_parts: list[bytes] = [b'patient_seq":%d' % k for k in range(1024)]

    def chunk(self, state: ScanState, chunk: Sequence[Entry], leaves: list[bytes]) -> bool:
        """Check a whole chunk; advance ``state`` and return True only if everything holds.
        On False, ``state`` is unchanged and the caller runs the reference path."""
        n = len(chunk)
        headers = [e.header for e in chunk]
        if leaves != [e.leaf_hash for e in chunk]:
            return False
        joined = b"".join(headers)
        if not joined.isascii():
            try:
                joined.decode("utf-8")
            except UnicodeDecodeError:
                return False
        cols = _columns(headers)
        if cols is None:
            return False
        p = state.position
        if cols[10].count(V1) != n:
            return False
        if cols[8] != tuple([b'seq":%d' % i for i in range(p, p + n)]):
            return False
        hexes = [hexlify(leaf) for leaf in leaves]
        first = (
            b'prev":null' if state.last_leaf is None else b'prev":"%s"' % hexlify(state.last_leaf)
        )
        if cols[6] != (first, *[b'prev":"%s"' % h for h in hexes[:-1]]):
            return False
        commitments = tuple(
            [
                b'payload_hash":"%s"' % hexlify(sha256(e.salt + e.payload).digest())
                if e.payload is not None and e.salt is not None
                else b""
                for e in chunk
            ]
        )
        erased_rows = [i for i, c in enumerate(commitments) if not c]
        if cols[4] != commitments:
            if any(c and c != got for c, got in zip(commitments, cols[4], strict=True)):
                return False
            if any(chunk[i].payload is not None or chunk[i].salt is not None for i in erased_rows):
                return False
            if any(not cols[4][i].startswith(b'payload_hash":"') for i in erased_rows):
                return False
        if not _learn(self._known, cols):
            return False
        if not self._chains(state, chunk, cols, hexes, erased_rows):
            return False
        state.last_leaf = leaves[-1]
        return True

    def _chains(
        self,
        state: ScanState,
        chunk: Sequence[Entry],
        cols: list[tuple[bytes, ...]],
        hexes: list[bytes],
        erased_rows: list[int],
    ) -> bool:
        prefixes = self._known.prefixes
        kinds = {pf for pf in set(cols[0]) if prefixes[pf] == b"erasure"}
        erasures = {i for i, pf in enumerate(cols[0]) if pf in kinds} if kinds else set()
        erased = set(erased_rows)
        special = erasures | erased
        seqs, last_hexes = state.patient_seqs, state.patient_leaves
        local_seqs: dict[bytes, int] = {}
        local_hexes: dict[bytes, bytes] = {}
        seq_parts = self._seq_parts
        unjustified = dict(state.unjustified)
        p = state.position
        for i, (prev_part, ref_part, seq_part) in enumerate(
            zip(cols[1], cols[2], cols[3], strict=True)
        ):
            if ref_part == NULL_REF:
                if seq_part != NULL_PSEQ or prev_part != NULL_PREV or i in special:
                    return False
                continue
            last = local_seqs.get(ref_part)
            if last is None:
                last = seqs.get(ref_part)
            if last is None:
                if REF_RE.fullmatch(ref_part) is None:
                    return False
                if seq_part != b'patient_seq":0' or prev_part != NULL_PREV:
                    return False
                number = 0
            else:
                number = last + 1
                if number >= len(seq_parts):
                    more = range(len(seq_parts), number * 2)
                    seq_parts.extend(b'patient_seq":%d' % k for k in more)
                last_hex = local_hexes.get(ref_part) or last_hexes[ref_part]
                if seq_part != seq_parts[number] or prev_part[15:-1] != last_hex:
                    return False
            local_seqs[ref_part] = number
            local_hexes[ref_part] = hexes[i]
            if i in special:
                if i in erased:
                    unjustified.setdefault(ref_part, p + i)
                if i in erasures:
                    unjustified.pop(ref_part, None)
        seqs.update(local_seqs)
        last_hexes.update(local_hexes)
        state.unjustified = unjustified
        state.erased += len(erased)
        state.position = p + len(chunk)
        return True
