"""A dossier's access history as its holder reads it: trace items, the counts of the DMP's
tabs (all, the viewer's own, the professionals'), the emergency accesses of the last 90 days,
and history pages in which consecutive own consultations fold into one line.

Everything here reads the ledger's search columns and payloads inside the unit of work of
the ``traces.read`` decision that asked for it.

What a reader may not see stays out (``engine.visibility``): an entry about one document
hidden from the reader (``hidden``, from :func:`hidden_from`) is *withheld*: its line keeps
what the header says (seq, time, action, mode, decision, reason, leaf hash) and ``withheld:
true``, without its actor, document, type or any other payload field; and when the history
is filtered by actor, withheld entries are left out (else the filter would say who did it)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from engine.model import Actor
from engine.tables import Tables
from engine.visibility import hidden_documents
from engine.vocabulary import Action, ActorType, Effect, Mode
from ledger.entry import Entry
from models.database import UnitOfWork
from models.ledger_index import IndexedEntry

EMERGENCY_WINDOW = timedelta(days=90)
EMERGENCY_MODES = (Mode.BREAK_GLASS.value, Mode.REGULATION.value)
EMERGENCY_LISTED = 100  # per mode
#: The viewer's own permitted reads that fold into one line when consecutive.
OWN_READS = frozenset(
    a.value
    for a in (Action.TRACES_READ, Action.DOSSIER_READ, Action.DOCUMENT_LIST, Action.DOCUMENT_READ)
)
SCAN_CHUNK = 100
SCAN_MAX = 2000  # raw entries one folded page reads at most


NOTHING_HIDDEN: frozenset[str] = frozenset()


def hidden_from(uow: UnitOfWork, patient_id: str, reader: Actor, now: datetime) -> frozenset[str]:
    """The ids of the dossier's documents (deleted ones included) hidden from ``reader``
    now: ``engine.visibility.hidden_documents``, the engine's own answer."""
    dossier = uow.dossiers.get(patient_id)
    if dossier is None:
        return NOTHING_HIDDEN
    documents = uow.dossiers.documents(patient_id)
    return hidden_documents(_engine(), reader, dossier, documents, now)


def names_hidden(payload: dict[str, Any] | None, hidden: frozenset[str]) -> bool:
    """Whether the entry ``payload`` is about one document of ``hidden``."""
    return bool(hidden) and payload is not None and payload.get("document_id") in hidden


def mentions_hidden(payload: dict[str, Any] | None, hidden: frozenset[str]) -> bool:
    """Whether ``payload`` names a document of ``hidden`` anywhere: as the entry's document
    or as one item of a listing's ``documents``."""
    if not hidden or payload is None:
        return False
    if payload.get("document_id") in hidden:
        return True
    listed = payload.get("documents")
    return isinstance(listed, list) and any(
        isinstance(d, dict) and d.get("document_id") in hidden for d in listed
    )


def withhold(entries: list[Entry], hidden: frozenset[str]) -> list[Entry]:
    """``entries`` as an export shows them to a reader from whom ``hidden`` is hidden: an
    entry whose payload names one of them anywhere (:func:`mentions_hidden`) goes without its
    payload and salt. Its header stays, so its leaf hash, its place in the patient's chain and
    its inclusion proof are as verifiable as any other (the payload commitment covers the
    whole payload: it is shown whole or not at all)."""
    if not hidden:
        return entries
    return [
        replace(e, payload=None, salt=None) if mentions_hidden(e.payload_dict(), hidden) else e
        for e in entries
    ]


def trace_item(entry: Entry, hidden: frozenset[str] = NOTHING_HIDDEN) -> dict[str, Any]:
    """One line of an access history: what was done, by whom, and the answer; an entry about
    one document also carries its type's code, official label and DMP space
    (``Tables.type_json``). An entry about a document of ``hidden`` is withheld (module
    docstring): ``withheld`` true, no actor, no document, no payload field."""
    header = entry.header_dict()
    payload = entry.payload_dict()
    withheld = names_hidden(payload, hidden)
    item: dict[str, Any] = {
        "seq": header["seq"],
        "time": header["time"],
        "action": header["action"],
        "mode": header["mode"],
        "decision": header["decision"],
        "reason": header["reason"],
        "kind": header["kind"],
        "leaf_hash": entry.leaf_hash.hex(),
        "erased": payload is None,
        "withheld": withheld,
        "actor": None,
        "document_id": None,
    }
    if payload is not None and not withheld:
        item["actor"] = {
            "id": payload.get("actor_id"),
            "type": payload.get("actor_type"),
            "name": payload.get("actor_name"),
            "profession": payload.get("actor_profession"),
        }
        item["document_id"] = payload.get("document_id")
        keys = ("patient_id", "justification", "document_type", "target_id", "view", "reviewed_seq")
        for key in keys:
            if payload.get(key):
                item[key] = payload[key]
        if payload.get("document_type"):
            item |= _tables().type_json(str(payload["document_type"]))
    return item


def _tables() -> Tables:
    tables: Tables = _engine().tables
    return tables


def _engine() -> Any:
    return current_app.extensions["vigie"].engine


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """The filters of ``GET /v1/dossiers/{pid}/traces`` (all optional)."""

    actor_type: str | None = None
    actor_id: str | None = None
    action: str | None = None
    mode: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_query(cls, query: dict[str, Any]) -> HistoryFilter:
        return cls(*(query.get(name) for name in cls.__slots__))

    @property
    def by_actor(self) -> bool:
        """Whether the history is filtered by who acted (withheld entries then stay out)."""
        return self.actor_type is not None or self.actor_id is not None

    def search(
        self, uow: UnitOfWork, ref: str, before: int | None, limit: int
    ) -> list[IndexedEntry]:
        return uow.index.search(
            patient_ref=ref,
            actor_type=self.actor_type,
            actor_id=self.actor_id,
            action=self.action,
            mode=self.mode,
            since=self.since,
            until=self.until,
            before_seq=before,
            limit=limit,
        )


def summary(
    uow: UnitOfWork,
    ref: str,
    viewer: str,
    now: datetime,
    hidden: frozenset[str] = NOTHING_HIDDEN,
) -> dict[str, Any]:
    """The tabs' counts and the emergency accesses of the last 90 days, newest first; each
    is ``new`` when it came after the viewer's previous reading of the history (an access to
    a document of ``hidden`` is withheld)."""
    index = uow.index
    previous = index.search(
        patient_ref=ref, actor_id=viewer, action=Action.TRACES_READ.value, limit=1
    )
    last_visit = previous[0].time if previous else None
    since = now - EMERGENCY_WINDOW
    found = [
        hit
        for mode in EMERGENCY_MODES
        for hit in index.search(patient_ref=ref, mode=mode, since=since, limit=EMERGENCY_LISTED)
    ]
    found.sort(key=lambda hit: hit.seq, reverse=True)
    emergencies = []
    for hit in found:
        item = trace_item(hit.entry, hidden)
        item["new"] = last_visit is None or hit.time > last_visit
        emergencies.append(item)
    return {
        "counts": {
            "all": index.count(patient_ref=ref),
            "own": index.count(patient_ref=ref, actor_id=viewer),
            "professionals": index.count(patient_ref=ref, actor_type=ActorType.PROFESSIONAL.value),
        },
        "emergency": emergencies,
        "emergency_since": since.isoformat(),
        "last_visit": last_visit.isoformat() if last_visit else None,
    }


def _folds(line: dict[str, Any], item: dict[str, Any], viewer: str) -> bool:
    return all(
        (x.get("actor") or {}).get("id") == viewer
        and x["action"] in OWN_READS
        and x["decision"] == Effect.PERMIT.value
        and x["mode"] == Mode.NORMAL.value
        for x in (line, item)
    )


def folded_page(
    uow: UnitOfWork,
    ref: str,
    filters: HistoryFilter,
    viewer: str,
    before: int | None,
    limit: int,
    hidden: frozenset[str] = NOTHING_HIDDEN,
) -> tuple[list[dict[str, Any]], int | None]:
    """At most ``limit`` lines, newest first, from seq ``before`` (exclusive); consecutive
    own consultations of ``viewer`` make one line, whose ``repeat`` says how many entries it
    stands for and ``earliest`` when the first was; entries about a document of ``hidden``
    are withheld (left out when filtered by actor). Returns the lines and the seq to page on
    from (None: nothing older)."""
    lines: list[dict[str, Any]] = []
    cursor, scanned = before, 0
    while scanned < SCAN_MAX:
        found = filters.search(uow, ref, cursor, SCAN_CHUNK)
        for hit in found:
            item = trace_item(hit.entry, hidden)
            if item["withheld"] and filters.by_actor:
                pass
            elif lines and _folds(lines[-1], item, viewer):
                lines[-1]["repeat"] += 1
                lines[-1]["earliest"] = item["time"]
            elif len(lines) == limit:
                return lines, cursor
            else:
                lines.append({**item, "repeat": 1, "earliest": item["time"]})
            cursor = hit.seq
            scanned += 1
        if len(found) < SCAN_CHUNK:
            return lines, None
    return lines, cursor
