"""The search columns of ``ledger_entries``: what an append copies into them, the searches
the API runs on them, and the check that they still say what the signed entries say.

``time``, ``kind``, ``action``, ``mode``, ``decision`` and ``reason`` are read from the entry's
own header at append time; ``actor_id``, ``actor_type``, ``document_id`` and ``decision_id``
come from the append's :class:`SearchColumns`, or else from the payload keys of the same names.
They are copies for queries only: the ledger's verification never reads them, and
:meth:`LedgerIndex.check_search_columns` compares them with the entries.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.canonical import parse_trusted
from ledger.entry import Entry
from ledger.verify import Columns
from models.base import read_time
from models.driver import Driver
from models.errors import IndexMismatchError
from models.table import LedgerEntryRow

_E = LedgerEntryRow
_ENTRY_COLUMNS = (
    _E.seq,
    _E.header,
    _E.payload,
    _E.salt,
    _E.leaf_hash,
    _E.patient_ref,
    _E.patient_seq,
)
_INDEX_COLUMNS = (
    _E.time,
    _E.kind,
    _E.action,
    _E.mode,
    _E.decision,
    _E.reason,
    _E.actor_id,
    _E.actor_type,
    _E.document_id,
    _E.decision_id,
)
_INDEX_KEYS = ("actor_id", "actor_type", "document_id", "decision_id")
_SEARCH_COLUMNS_FROM = (  # _check_row reads the first 15; salt and leaf_hash complete Columns
    "SELECT seq, header, payload, patient_ref, patient_seq, time, kind, action, mode, decision,"
    " reason, actor_id, actor_type, document_id, decision_id, salt, leaf_hash"
    " FROM ledger_entries WHERE seq >= :first ORDER BY seq LIMIT :limit"
)


@dataclass(frozen=True, slots=True)
class SearchColumns:
    """The search columns an append takes beside the header (personal data: erased with
    the payload, except ``decision_id``)."""

    actor_id: str | None = None
    actor_type: str | None = None
    document_id: str | None = None
    decision_id: str | None = None


@dataclass(frozen=True, slots=True)
class IndexedEntry:
    """A stored entry with its search columns, as :meth:`LedgerIndex.search` returns it."""

    entry: Entry
    time: datetime
    kind: str
    action: str
    mode: str
    decision: str
    reason: str
    actor_id: str | None
    actor_type: str | None
    document_id: str | None
    decision_id: str | None

    @property
    def seq(self) -> int:
        return self.entry.seq


def _entry(row: Any) -> Entry:
    return Entry(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def _indexed(r: Any) -> IndexedEntry:
    return IndexedEntry(
        _entry(r), r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15], r[16]
    )


def index_from_payload(payload: bytes | None) -> SearchColumns:
    """The search columns an entry's payload gives (its keys of the same names)."""
    if payload is None:
        return SearchColumns()
    data = json.loads(payload)

    def text(name: str) -> str | None:
        value = data.get(name) if isinstance(data, dict) else None
        return value if isinstance(value, str) else None

    return SearchColumns(*(text(name) for name in _INDEX_KEYS))


_CHECKED = ("seq", "patient_ref", "patient_seq", "kind", "action", "mode", "decision", "reason",
            "actor_id", "actor_type", "document_id", "time")  # fmt: skip


def _check_row(row: Any) -> None:
    """Raise IndexMismatchError unless the search columns of ``row`` (``_SEARCH_COLUMNS_FROM``)
    hold what its header and payload say. The bytes are parsed without strictness checks: the
    ledger's verification vouches for them; this only compares copies."""
    seq, header_bytes, payload_bytes, patient_ref, patient_seq, time, *index = row[:15]
    header = parse_trusted(header_bytes)
    payload = {} if payload_bytes is None else parse_trusted(payload_bytes)
    kind, action, mode, decision, reason, actor_id, actor_type, document_id, _ = index
    stored = (seq, patient_ref, patient_seq, kind, action, mode, decision, reason, actor_id,
              actor_type, document_id, read_time(time))  # fmt: skip
    h, p = header.get, payload.get
    expected = (h("seq"), h("patient_ref"), h("patient_seq"), h("kind"), h("action"), h("mode"),
                h("decision"), h("reason"), p("actor_id"), p("actor_type"), p("document_id"),
                datetime.fromisoformat(header["time"]))  # fmt: skip
    if stored != expected:
        pairs = zip(_CHECKED, stored, expected, strict=True)
        name, got, want = next(pair for pair in pairs if pair[1] != pair[2])
        raise IndexMismatchError(seq, name, got, want)


class LedgerIndex:
    """Searches and checks of the search columns, in one session's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.driver = Driver(session)

    def check_search_columns(
        self, chunk: int = 4096, progress: Callable[[int], None] | None = None, first: int = 0
    ) -> int:
        """Compare the search columns of every row from seq ``first`` on with the header and
        payload they copy (the ledger's own verification never reads them); raise
        IndexMismatchError at the first difference. Returns how many rows were checked."""
        checked = 0
        while True:
            count, first = self.check_search_rows(first, chunk)
            if not count:
                return checked
            checked += count
            if progress is not None:
                progress(checked)

    def check_search_rows(self, first: int, limit: int) -> tuple[int, int]:
        """:meth:`check_search_columns` of at most ``limit`` rows from seq ``first`` on;
        returns how many rows were checked and the seq after the last one."""
        rows = self._checked_rows(first, limit)
        return len(rows), (rows[-1][0] + 1 if rows else first)

    def checked_columns(self, first: int, limit: int) -> Columns:
        """``SqlLedgerStore.entry_columns(first, limit)``, read once with the search columns
        of the same rows, which are checked first (a verification worker's read)."""
        rows = self._checked_rows(first, limit)
        if not rows:
            return Columns((), (), (), ())
        columns = list(zip(*rows, strict=True))
        return Columns(columns[1], columns[2], columns[15], columns[16])

    def _checked_rows(self, first: int, limit: int) -> list[Any]:
        rows = self.driver.rows(_SEARCH_COLUMNS_FROM, {"first": first, "limit": limit}, binary=True)
        for row in rows:
            _check_row(row)
        return rows

    def count(self, **filters: Unpack[SearchFilters]) -> int:
        """How many entries :meth:`search` with these filters would find, without a limit
        (the rate limits count the actor's recent entries with it)."""
        query = select(func.count()).select_from(_E).where(*_conditions(filters))
        return int(self.session.scalar(query) or 0)

    def search(
        self, *, before_seq: int | None = None, limit: int = 50, **filters: Unpack[SearchFilters]
    ) -> list[IndexedEntry]:
        """Entries matching every given filter, newest first (seq descending), at most
        ``limit``. Page on with ``before_seq`` = the last seq returned. ``since`` is
        inclusive, ``until`` exclusive (both aware). Precondition: ``limit >= 1``."""
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        conditions = _conditions(filters, before_seq)
        rows = self.session.execute(
            select(*_ENTRY_COLUMNS, *_INDEX_COLUMNS)
            .where(*conditions)
            .order_by(_E.seq.desc())
            .limit(limit)
        )
        return [_indexed(row) for row in rows]


class SearchFilters(TypedDict, total=False):
    """The filters of :meth:`LedgerIndex.search` and :meth:`LedgerIndex.count`; each one
    given and not None must hold."""

    patient_ref: str | None
    actor_id: str | None
    actor_type: str | None
    action: str | None
    mode: str | None
    decision: str | None
    since: datetime | None
    until: datetime | None


_EQUAL = {
    "patient_ref": _E.patient_ref,
    "actor_id": _E.actor_id,
    "actor_type": _E.actor_type,
    "action": _E.action,
    "mode": _E.mode,
    "decision": _E.decision,
}


def _conditions(filters: SearchFilters, before_seq: int | None = None) -> list[Any]:
    unknown = set(filters) - set(_EQUAL) - {"since", "until"}
    if unknown:
        raise TypeError(f"unknown search filter(s): {', '.join(sorted(unknown))}")
    given: dict[str, Any] = {name: value for name, value in filters.items() if value is not None}
    conditions: list[Any] = [_EQUAL[name] == given[name] for name in _EQUAL if name in given]
    if "since" in given:
        conditions.append(_E.time >= given["since"])
    if "until" in given:
        conditions.append(_E.time < given["until"])
    if before_seq is not None:
        conditions.append(_E.seq < before_seq)
    return conditions
