"""The fast path of whole-ledger verification: an accelerator, never the definition.

It accepts a block only when every entry of it would pass the reference path
(:mod:`ledger.verify.reference`, the specification); whenever anything is in doubt it
declines, leaves the state unchanged, and the block goes to the reference path, which accepts
it or names the fault. So it can make verification faster, never more permissive. Tests hold
it to this: ``tests/ledger/test_ledger_verify.py`` runs both paths over random ledgers with
random tampering and requires the same verdict.

How it is fast: canonical v1 headers end with ten fixed keys, so ``header.rsplit(b',"', 10)``
cuts a valid header into its ``action..obligations`` prefix and one ``key":value`` part per
field (a JSON string cannot hold an unescaped ``"``, so ``,"`` only occurs between members).
Parts whose value is known in advance (``seq``, ``prev``, ``payload_hash``, the patient chain)
are compared with the expected bytes, column by column; the few free parts (prefix, reason,
policy version, time, patient_ref) take a handful of distinct values, each validated once by a
strict pattern and cached. The concatenation of valid parts is a valid canonical header, so
whatever this pass accepts the reference path accepts too.
"""

from __future__ import annotations

import re
from binascii import hexlify
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ledger import hashing
from ledger.entry import Entry
from ledger.verify.state import Columns, ScanState

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


SCAN_BLOCK = 1024
"""Entries the fast pass takes at a time, whatever the read size: a block's headers and their
parts stay in the CPU caches (4096 at a time ran about 25% slower)."""

_BLOCK = 256


def _columns(headers: Sequence[bytes]) -> list[tuple[bytes, ...]] | None:
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


@dataclass(slots=True)
class Local:
    """What one chunk proved on its own (anywhere: in a worker process too), and what only the
    ledger state before it can still refute. Column parts are newline-joined bytes: cheap to
    send between processes and to compare."""

    start: int
    count: int
    last_leaf: bytes
    first_prev: bytes
    """The first header's ``prev":...`` part (the others were checked within the chunk)."""
    refs: bytes
    """Every header's ``patient_ref":...`` part."""
    seqs: bytes
    """Every header's ``patient_seq":...`` part."""
    patient_prevs: bytes
    """Every header's ``patient_prev":...`` part."""
    parts: bytes
    """``patient_prev":"<leaf>"`` of each row: what its patient's next entry must hold."""
    erasures: list[int]
    """Rows of kind ``erasure``."""
    erased: list[int]
    """Rows whose payload and salt are both gone."""


class Scanner:
    """Runs the fast pass chunk after chunk, remembering validated header parts.

    Known parts are compared a whole column at a time: ``b"\n".join(column)`` against the
    newline-joined expected parts. No expected part holds a newline, so equal joins mean equal
    parts, one by one (the column's joins hold at least as many newlines as the expected one).

    :meth:`local` needs nothing but the chunk and where it starts; :meth:`apply` checks the
    rest against the state left by the chunks before. :meth:`chunk` does both."""

    def __init__(self) -> None:
        self._known = _Known()
        self._seq_parts: list[bytes] = [b'patient_seq":%d' % k for k in range(1024)]

    def chunk(self, state: ScanState, chunk: Sequence[Entry], leaves: list[bytes]) -> bool:
        """Check a whole chunk; advance ``state`` and return True only if everything holds.
        On False, ``state`` is unchanged and the caller runs the reference path."""
        local = self.local(state.position, Columns.of(chunk), leaves)
        return local is not None and self.apply(state, local)

    def local(self, start: int, chunk: Columns, leaves: list[bytes]) -> Local | None:
        """The checks of a chunk whose first entry should be ``start`` that need no state: leaf
        hashes (``leaves``, computed from the headers), header shape, seqs, prev links inside
        the chunk, payload commitments. None when any fails or is in doubt."""
        headers = chunk.headers
        n = len(headers)
        if not n or leaves != list(chunk.leaf_hashes):
            return None
        if not all(map(bytes.isascii, headers)):
            try:
                b"".join(headers).decode("utf-8")
            except UnicodeDecodeError:
                return None
        cols = _columns(headers)
        if cols is None:
            return None
        if cols[10].count(V1) != n:
            return None
        seqs = 'seq":' + '\nseq":'.join(map(str, range(start, start + n)))
        if b"\n".join(cols[8]) != seqs.encode():
            return None
        hexes = hexlify(b"".join(leaves), b"\n", 32)  # one line per leaf
        if n > 1 and b"\n".join(cols[6][1:]) != _wrapped(b"prev", hexes[:-65]):
            return None
        try:
            digests = b"".join(hashing.payload_digests(chunk.salts, chunk.payloads))  # type: ignore[arg-type]
        except TypeError:  # a payload or salt is gone
            erased_rows = self._erased(chunk, cols[4])
            if erased_rows is None:
                return None
        else:
            erased_rows = []
            if b"\n".join(cols[4]) != _wrapped(b"payload_hash", hexlify(digests, b"\n", 32)):
                return None
        if not _learn(self._known, cols):
            return None
        prefixes = self._known.prefixes
        kinds = {pf for pf in set(cols[0]) if prefixes[pf] == b"erasure"}
        erasures = [i for i, pf in enumerate(cols[0]) if pf in kinds] if kinds else []
        if any(cols[2][i] == NULL_REF for i in (*erasures, *erased_rows)):
            return None  # an erasure, or an erased payload, about no patient
        refs = b"\n".join(cols[2])
        if refs.count(b"\n") != n - 1:
            return None  # a raw newline in a patient_ref part (never canonical JSON)
        return Local(
            start=start,
            count=n,
            last_leaf=leaves[-1],
            first_prev=cols[6][0],
            refs=refs,
            seqs=b"\n".join(cols[3]),
            patient_prevs=b"\n".join(cols[1]),
            parts=_wrapped(b"patient_prev", hexes),
            erasures=erasures,
            erased=erased_rows,
        )

    def apply(self, state: ScanState, local: Local) -> bool:
        """Check ``local`` against ``state`` (the chunk must start at ``state.position`` and
        link to its last leaf; the patient chains and erasures must continue), and advance
        ``state`` when it all holds. On False, ``state`` is unchanged."""
        if local.start != state.position:
            return False
        first_prev = (
            b'prev":null' if state.last_leaf is None else b'prev":"%s"' % hexlify(state.last_leaf)
        )
        if local.first_prev != first_prev:
            return False
        if not self._chains(state, local):
            return False
        state.last_leaf = local.last_leaf
        return True

    @staticmethod
    def _erased(chunk: Columns, column: tuple[bytes, ...]) -> list[int] | None:
        """Rows whose payload and salt are both gone (the others must open their commitment);
        None when a commitment fails or only one of payload and salt is gone."""
        erased: list[int] = []
        rows = zip(chunk.salts, chunk.payloads, column, strict=True)
        for i, (salt, payload, part) in enumerate(rows):
            if payload is not None and salt is not None:
                if part != b'payload_hash":"%s"' % hexlify(hashing.payload_digest(salt, payload)):
                    return None
            elif payload is None and salt is None and part.startswith(b'payload_hash":"'):
                erased.append(i)
            else:
                return None
        return erased

    def _chains(self, state: ScanState, local: Local) -> bool:
        """The patient chains and erasures of ``local``; advances ``state`` when they hold."""
        seqs, last_parts = state.patient_seqs, state.patient_leaves
        seq_parts = self._seq_parts
        refs = local.refs.split(b"\n")
        parts = local.parts.split(b"\n")
        # ints and bytes only, no tuples: a chunk allocates nothing the cyclic GC tracks
        numbers: dict[bytes, int] = {}  # last patient_seq of each patient seen in the chunk
        prevs: dict[bytes, bytes] = {}  # and the patient_prev part its next entry must hold
        want_seqs: list[bytes] = []
        want_prevs: list[bytes] = []
        add_seq, add_prev = want_seqs.append, want_prevs.append
        for ref, part in zip(refs, parts, strict=True):
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
        if local.seqs != b"\n".join(want_seqs):
            return False
        if local.patient_prevs != b"\n".join(want_prevs):
            return False
        unjustified = _unjustified(state, local, refs)
        seqs.update(numbers)
        last_parts.update(prevs)
        state.unjustified = unjustified
        state.erased += len(local.erased)
        state.position += local.count
        return True


def _unjustified(state: ScanState, local: Local, refs: list[bytes]) -> dict[bytes, int]:
    """``state.unjustified`` after this chunk's erased payloads and erasure entries (rows
    about no patient were refused by :meth:`Scanner.local`)."""
    if not local.erasures and not local.erased:
        return state.unjustified
    unjustified = dict(state.unjustified)
    erasure_set = set(local.erasures)
    for i in sorted(erasure_set.union(local.erased)):
        ref = refs[i]
        if i not in erasure_set:
            unjustified.setdefault(ref, state.position + i)
        else:
            unjustified.pop(ref, None)
    return unjustified
