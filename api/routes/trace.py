"""Traces of one dossier (newest first, filtered, cursor-paged) and the patient's export."""

from __future__ import annotations

import base64
import re
from typing import Any

from flask import Response, current_app

from api.endpoint import ERROR_RESPONSES, RATE_LIMITED_RESPONSE, RouteTable, current_actor
from api.history import (
    NOTHING_HIDDEN,
    HistoryFilter,
    folded_page,
    hidden_from,
    summary,
    trace_item,
    withhold,
)
from api.problem import unprocessable
from api.review import dossier_people, review
from api.routes.common import access, dossier_json, handle, vigie
from api.schema import ANY_OBJECT, LIST, TRACE_QUERY, TRACE_SUMMARY
from api.service import Outcome, Service
from api.witnessing import Witnessing, note_size
from engine.vocabulary import View
from ledger.cosignature import add_cosignatures
from ledger.entry import Entry
from ledger.export import dump_bundle, patient_history, proven_bundle
from ledger.fhir import audit_bundle
from models.database import Database, UnitOfWork
from models.ledger_index import IndexedEntry

routes = RouteTable("traces", "traces")
DENIED = {403: ("Denied by the policy; traced", None)}
DEFAULT_LIMIT = 50
MAX_SEQ = 2**63 - 1
"""The largest seq a cursor may name: every store keeps seqs as signed 64-bit integers."""
_CURSOR = re.compile(r"seq:(0|[1-9][0-9]{0,18})")


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The seq of a cursor this service issued (``seq:N``, base64url, N a decimal within
    0..2^63-1); anything else is a 422 naming ``cursor``, before any database work."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        text = ""
    found = _CURSOR.fullmatch(text)
    if found is None or int(found.group(1)) > MAX_SEQ:
        raise unprocessable("cursor is not one this service issued", "cursor")
    return int(found.group(1))


def paging(query: dict[str, Any]) -> tuple[int, int | None]:
    """A page's size and where it starts (the seq its ``cursor`` names; None: the newest)."""
    return query.get("limit", DEFAULT_LIMIT), decode_cursor(query.get("cursor"))


def page(
    found: list[IndexedEntry],
    limit: int,
    hidden: frozenset[str] = NOTHING_HIDDEN,
    by_actor: bool = False,
) -> dict[str, Any]:
    """A page of trace items; entries about a document of ``hidden`` are withheld, and left
    out when the history is filtered ``by_actor`` (``api.history``)."""
    more = len(found) > limit
    entries = [f.entry for f in found[:limit]]
    items = [trace_item(e, hidden) for e in entries]
    return {
        "items": [i for i in items if not (by_actor and i["withheld"])],
        "next_cursor": encode_cursor(entries[-1].seq) if more and entries else None,
    }


@routes.route(
    "GET",
    "/v1/dossiers/<pid>/traces",
    "The dossier's access history, newest first",
    query=TRACE_QUERY,
    responses={200: ("A page", LIST), **DENIED, **ERROR_RESPONSES},
)
def traces(pid: str, query: dict[str, Any] | None = None) -> Any:
    query = query or {}
    limit, before = paging(query)
    ref = vigie().appender.patient_ref(pid)
    filters = HistoryFilter.from_query(query)
    reader = current_actor()

    def effect(uow: UnitOfWork, now: Any) -> Any:
        return filters.search(uow, ref, before, limit + 1), hidden_from(uow, pid, reader, now)

    outcome = handle(access("traces.read", pid), effect=effect)
    found, hidden = outcome.result
    return page(list(found), limit, hidden, filters.by_actor)


@routes.route(
    "GET",
    "/v1/dossiers/<pid>/traces/summary",
    "The history's counts (all, the caller's own, the professionals') and the emergency "
    "accesses of the last 90 days; itself a traces.read",
    responses={200: ("The summary", TRACE_SUMMARY), **DENIED, **ERROR_RESPONSES},
)
def traces_summary(pid: str) -> Any:
    ref = vigie().appender.patient_ref(pid)
    reader = current_actor()

    def effect(uow: UnitOfWork, now: Any) -> Any:
        return summary(uow, ref, reader.id, now, hidden_from(uow, pid, reader, now))

    outcome = handle(access("traces.read", pid), effect=effect, extra_payload={"view": "summary"})
    return {**outcome.result, "trace": outcome.trace}


@routes.route(
    "GET",
    "/v1/dossiers/<pid>/overview",
    "Everything the holder's page shows, under one traces.read decision (holder or "
    "representative): a history page with own consultations folded, the summary, the "
    "dossier's state, the access review and the directory entries of everyone named",
    query=TRACE_QUERY,
    responses={200: ("The overview", ANY_OBJECT), **DENIED, **ERROR_RESPONSES},
)
def overview(pid: str, query: dict[str, Any] | None = None) -> Any:
    query = query or {}
    limit, before = paging(query)
    service = vigie()
    ref = service.appender.patient_ref(pid)
    reader = current_actor()
    viewer = reader.id
    filters = HistoryFilter.from_query(query)

    def effect(uow: UnitOfWork, now: Any) -> Any:
        hidden = hidden_from(uow, pid, reader, now)
        lines, cursor = folded_page(uow, ref, filters, viewer, before, limit, hidden)
        dossier = uow.dossiers.get(pid)
        assert dossier is not None  # the permit found it
        access_review = review(service.engine, uow, pid, now, reader)
        named = {
            i
            for line in lines + access_review["professionals"]
            for i in ((line.get("actor") or {}).get("id"), line.get("target_id"))
        }
        directory = uow.directory.lookup({i for i in named if i} | dossier_people(dossier))
        return {
            "items": lines,
            "next_cursor": encode_cursor(cursor) if cursor is not None else None,
            "summary": summary(uow, ref, viewer, now, hidden),
            "dossier": dossier_json(dossier),
            "review": access_review,
            "directory": {ps: found.to_json() for ps, found in directory.items()},
        }

    outcome = handle(
        access("traces.read", pid, view=View.OVERVIEW),
        effect=effect,
        extra_payload={"view": "overview"},
    )
    return {**outcome.result, "trace": outcome.trace}


def shown_history(uow: UnitOfWork, entry: Entry, hidden: frozenset[str]) -> list[Entry]:
    """The patient's entries up to the export ``entry``, those naming a document of
    ``hidden`` without their payload (``api.history.withhold``)."""
    return withhold(patient_history(uow.ledger, entry.patient_ref or "", entry.seq), hidden)


def export_bundle(
    service: Service[Database],
    uow: UnitOfWork,
    pid: str,
    entry: Entry,
    hidden: frozenset[str] = NOTHING_HIDDEN,
) -> dict[str, Any]:
    """The vigie-access-history/v1 bundle ending with the export ``entry`` (just appended in
    ``uow``), proved against a checkpoint covering it: signed now at the export's size, unless
    one already covers it (signed past it by a later call of the same group commit). Entries
    about a document of ``hidden`` (hidden from the one who exports) are withheld."""
    return service.writer(uow).export(pid, entry, lambda history: withhold(history, hidden))


def _cosigned_bundle(
    service: Service[Database],
    witnessing: Witnessing,
    pid: str,
    entry: Entry,
    bundle: dict[str, Any],
    wait: float,
    hidden: frozenset[str],
) -> dict[str, Any]:
    """``bundle`` with its checkpoint's cosignatures, once the quorum cosigned it or ``wait``
    seconds passed. If another process had a later checkpoint cosigned first (the witnesses
    can then no longer cosign this one), the bundle is proved again against the newest
    checkpoint the quorum cosigned, which covers the export too."""
    size = note_size(bundle["checkpoint"])
    note = witnessing.cosigned_note(bundle["checkpoint"], size, wait)
    if witnessing.counted(note) < witnessing.quorum:
        with service.database.read_only() as uow:
            later = uow.cosignatures.latest_cosigned(witnessing.quorum)
            if later is not None and note_size(later[0]) > entry.seq:
                history = shown_history(uow, entry, hidden)
                cosigned, later_size = add_cosignatures(*later), note_size(later[0])
                key = service.verifier_key
                return proven_bundle(uow.ledger, pid, history, cosigned, later_size, key)
    return {**bundle, "checkpoint": note}


@routes.route(
    "GET",
    "/v1/dossiers/<pid>/traces/export",
    "The verifiable access history (vigie-access-history/v1, or FHIR with format=fhir)",
    query={"format": {"type": "string", "enum": ["json", "fhir"]}},
    responses={
        200: ("The bundle", ANY_OBJECT),
        **DENIED,
        429: RATE_LIMITED_RESPONSE,
        **ERROR_RESPONSES,
    },
)
def export(pid: str, query: dict[str, Any] | None = None) -> Any:
    fhir = (query or {}).get("format") == "fhir"
    service = vigie()
    reader = current_actor()
    hidden = NOTHING_HIDDEN

    def follow(uow: UnitOfWork, entry: Entry, now: Any) -> Any:
        nonlocal hidden
        hidden = hidden_from(uow, pid, reader, now)
        if fhir:
            service.writer(uow).checkpoint(entry.seq + 1)  # every export is checkpointed
            return audit_bundle(shown_history(uow, entry, hidden), now.isoformat())
        return export_bundle(service, uow, pid, entry, hidden)

    outcome: Outcome = handle(access("traces.export", pid), follow=follow)
    witnessing = current_app.extensions.get("vigie.witnessing")
    result = outcome.result
    if witnessing is not None and not fhir:  # committed: only the bundle waits, bounded
        wait = current_app.extensions["vigie.settings"].witness_wait
        result = _cosigned_bundle(service, witnessing, pid, outcome.entry, result, wait, hidden)
    mimetype = "application/fhir+json" if fhir else "application/json"
    return Response(
        dump_bundle(result),
        mimetype=mimetype,
        headers={
            "Content-Disposition": (
                f'attachment; filename="vigie-access-history-{outcome.entry.seq}.json"'
            )
        },
    )
