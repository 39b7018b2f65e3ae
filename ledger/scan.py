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
    """The ``patient_prev":"<hex>"`` header part the next entry of each patient must hold (the
    leaf hash of the patient's last entry), same keys."""
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


def _wrapped(key: bytes, hexes: bytes) -> bytes:
    """``key":"<hex>"`` parts, newline-separated, from newline-separated hex digests."""
    return b'%s":"%s"' % (key, hexes.replace(b"\n", b'"\n%s":"' % key))


class Scanner:
    """Runs the fast pass chunk after chunk, remembering validated header parts.

    Known parts are compared a whole column at a time: ``b"\n".join(column)`` against the
    newline-joined expected parts. No expected part holds a newline, so equal joins mean equal
    parts, one by one (the column's joins hold at least as many newlines as the expected one)."""

    def __init__(self) -> None:
        self._known = _Known()
        self._seq_parts: list[bytes] = [b'patient_seq":%d' % k for k in range(1024)]

    def chunk(self, state: ScanState, chunk: Sequence[Entry], leaves: list[bytes]) -> bool:
        """Check a whole chunk; advance ``state`` and return True only if everything holds.
        On False, ``state`` is unchanged and the caller runs the reference path."""
        n = len(chunk)
        if not n or leaves != [e.leaf_hash for e in chunk]:
            return False
        headers = [e.header for e in chunk]
        if not all(map(bytes.isascii, headers)):
            try:
                b"".join(headers).decode("utf-8")
            except UnicodeDecodeError:
                return False
        cols = _columns(headers)
        if cols is None:
            return False
        p = state.position
        if cols[10].count(V1) != n:
            return False
        if b"\n".join(cols[8]) != ('seq":' + '\nseq":'.join(map(str, range(p, p + n)))).encode():
            return False
        hexes = hexlify(b"".join(leaves), b"\n", 32)  # one line per leaf
        prevs = (
            b'prev":null' if state.last_leaf is None else b'prev":"%s"' % hexlify(state.last_leaf)
        )
        if n > 1:
            prevs += b"\n" + _wrapped(b"prev", hexes[:-65])
        if b"\n".join(cols[6]) != prevs:
            return False
        try:
            digests = b"".join([sha256(e.salt + e.payload).digest() for e in chunk])  # type: ignore[operator]
        except TypeError:  # a payload or salt is gone
            erased_rows = self._erased(chunk, cols[4])
            if erased_rows is None:
                return False
        else:
            erased_rows = []
            if b"\n".join(cols[4]) != _wrapped(b"payload_hash", hexlify(digests, b"\n", 32)):
                return False
        if not _learn(self._known, cols):
            return False
        parts = _wrapped(b"patient_prev", hexes).split(b"\n")
        if not self._chains(state, cols, parts, erased_rows):
            return False
        state.last_leaf = leaves[-1]
        return True

    @staticmethod
    def _erased(chunk: Sequence[Entry], column: tuple[bytes, ...]) -> list[int] | None:
        """Rows whose payload and salt are both gone (the others must open their commitment);
        None when a commitment fails or only one of payload and salt is gone."""
        erased: list[int] = []
        for i, (e, part) in enumerate(zip(chunk, column, strict=True)):
            if e.payload is not None and e.salt is not None:
                if part != b'payload_hash":"%s"' % hexlify(sha256(e.salt + e.payload).digest()):
                    return None
            elif e.payload is None and e.salt is None and part.startswith(b'payload_hash":"'):
                erased.append(i)
            else:
                return None
        return erased

    def _chains(
        self,
        state: ScanState,
        cols: list[tuple[bytes, ...]],
        parts: list[bytes],
        erased_rows: list[int],
    ) -> bool:
        """The patient chains: ``parts[i]`` is ``patient_prev":"<leaf i>"``."""
        seqs, last_parts = state.patient_seqs, state.patient_leaves
        seq_parts = self._seq_parts
        # ints and bytes only, no tuples: a chunk allocates nothing the cyclic GC tracks
        numbers: dict[bytes, int] = {}  # last patient_seq of each patient seen in the chunk
        prevs: dict[bytes, bytes] = {}  # and the patient_prev part its next entry must hold
        want_seqs: list[bytes] = []
        want_prevs: list[bytes] = []
        add_seq, add_prev = want_seqs.append, want_prevs.append
        for ref, part in zip(cols[2], parts, strict=True):
            number = numbers.get(ref)
            if number is None:
                if ref == NULL_REF:
                    add_seq(NULL_PSEQ)
                    add_prev(NULL_PREV)
                    continue
                number = seqs.get(ref)
                if number is None:
                    if REF_RE.fullmatch(ref) is None:
                        return False
                    number, prev = -1, NULL_PREV
                else:
                    prev = last_parts[ref]
            else:
                prev = prevs[ref]
            number += 1
            try:
                add_seq(seq_parts[number])
            except IndexError:
                seq_parts.extend(b'patient_seq":%d' % k for k in range(len(seq_parts), 2 * number))
                add_seq(seq_parts[number])
            add_prev(prev)
            numbers[ref] = number
            prevs[ref] = part
        if b"\n".join(cols[3]) != b"\n".join(want_seqs):
            return False
        if b"\n".join(cols[1]) != b"\n".join(want_prevs):
            return False
        unjustified = self._unjustified(state, cols, erased_rows)
        if unjustified is None:
            return False
        seqs.update(numbers)
        last_parts.update(prevs)
        state.unjustified = unjustified
        state.erased += len(erased_rows)
        state.position += len(parts)
        return True

    def _unjustified(
        self, state: ScanState, cols: list[tuple[bytes, ...]], erased_rows: list[int]
    ) -> dict[bytes, int] | None:
        """``state.unjustified`` after this chunk's erased payloads and erasure entries (None
        when one of them is about no patient)."""
        prefixes = self._known.prefixes
        kinds = {pf for pf in set(cols[0]) if prefixes[pf] == b"erasure"}
        erasures = [i for i, pf in enumerate(cols[0]) if pf in kinds] if kinds else []
        if not erasures and not erased_rows:
            return state.unjustified
        unjustified = dict(state.unjustified)
        erasure_set = set(erasures)
        for i in sorted(erasure_set.union(erased_rows)):
            ref = cols[2][i]
            if ref == NULL_REF:
                return None
            if i not in erasure_set:
                unjustified.setdefault(ref, state.position + i)
            else:
                unjustified.pop(ref, None)
        return unjustified
