"""The ledger: public checkpoint, key and consistency proofs; auditors' proofs, entries and
cross-dossier search (each auditor read is itself a ledger entry)."""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, current_app

from api.emergency import (
    EMERGENCY_MODES,
    STATUSES,
    ReviewQuery,
    break_glass_queue,
    named_from_directory,
)
from api.endpoint import ERROR_RESPONSES, RouteTable
from api.free_text import required
from api.problem import unavailable, unprocessable
from api.routes.common import access, decision_body, handle, vigie
from api.routes.trace import encode_cursor, page, paging
from api.schema import (
    AUDIT_QUERY,
    COMMAND_RESPONSE,
    CURSOR,
    ID,
    LIMIT,
    LIST,
    PROOF,
    REVIEW,
    SINCE,
)
from ledger import merkle
from ledger.cosignature import add_cosignatures
from models.database import UnitOfWork

routes = RouteTable("ledger", "ledger")
DENIED = {403: ("Denied by the policy; traced", None)}
SIZE = {"type": "integer", "minimum": 0, "maximum": 2**53 - 1}  # seq/sizes are JSON-safe


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in hashes]


@routes.route(
    "GET",
    "/v1/ledger/checkpoint",
    "The latest signed checkpoint (C2SP note), with every witness cosignature stored for it "
    "(VIGIE_WITNESS_PUBLISH=quorum: the latest one the quorum cosigned)",
    auth=False,
    content_type="text/plain",
    responses={
        200: ("The note", None),
        503: ("Store unavailable, or no checkpoint cosigned by the quorum yet", None),
    },
)
def checkpoint() -> Any:
    service = vigie()
    witnessing = current_app.extensions.get("vigie.witnessing")
    if witnessing is not None and current_app.extensions["vigie.settings"].witness_publish:
        with service.database.read_only() as uow:
            cosigned = uow.cosignatures.latest_cosigned(witnessing.quorum)
        if cosigned is None:
            raise unavailable("no checkpoint has been cosigned by the witnesses' quorum yet")
        return Response(add_cosignatures(*cosigned), mimetype="text/plain")
    with service.database.read_only() as uow:
        latest = uow.ledger.checkpoint_latest()
        lines = [] if latest is None else uow.cosignatures.lines(latest.size)
    note = latest.note if latest is not None else service.checkpoint_now()
    return Response(add_cosignatures(note, lines), mimetype="text/plain")


@routes.route(
    "GET",
    "/v1/ledger/key",
    "The checkpoint verifier key (C2SP name+id+key)",
    auth=False,
    content_type="text/plain",
    responses={200: ("The key", None)},
)
def key() -> Any:
    return Response(vigie().verifier_key + "\n", mimetype="text/plain")


@routes.route(
    "GET",
    "/v1/ledger/proofs/consistency",
    "RFC 9162 consistency proof",
    auth=False,
    query={"from_size": SIZE, "to_size": SIZE},
    required_query=("from_size", "to_size"),
    responses={200: ("The proof", PROOF), **ERROR_RESPONSES},
)
def consistency(query: dict[str, Any]) -> Any:
    first, second = query["from_size"], query["to_size"]
    with vigie().database.read_only() as uow:
        size = uow.ledger.head().size
        if not 0 < first <= second <= size:
            raise unprocessable(f"need 0 < from_size <= to_size <= {size}", "from_size")
        proof = merkle.consistency_proof(uow.ledger, first, second)
    return {"from_size": first, "to_size": second, "proof": _b64(proof)}


@routes.route(
    "GET",
    "/v1/ledger/proofs/inclusion",
    "RFC 9162 inclusion proof (auditors)",
    query={"seq": SIZE, "tree_size": SIZE},
    required_query=("seq", "tree_size"),
    responses={200: ("The proof", PROOF), **DENIED, **ERROR_RESPONSES},
)
def inclusion(query: dict[str, Any]) -> Any:
    seq, tree_size = query["seq"], query["tree_size"]

    def effect(uow: UnitOfWork, now: Any) -> Any:
        size = uow.ledger.head().size
        if not seq < tree_size <= size:
            raise unprocessable(f"need seq < tree_size <= {size}", "tree_size")
        entry = uow.ledger.entries(seq, 1)[0]
        return entry.leaf_hash, merkle.inclusion_proof(uow.ledger, seq, tree_size)

    outcome = handle(
        access("ledger.read", None),
        effect=effect,
        extra_payload={"view": "inclusion_proof", "seq": seq},
    )
    leaf, proof = outcome.result
    return {"seq": seq, "tree_size": tree_size, "leaf_hash": leaf.hex(), "proof": _b64(proof)}


@routes.route(
    "GET",
    "/v1/ledger/entries",
    "Stored entries, headers and payloads (auditors)",
    query={"from_seq": SIZE, "limit": LIMIT},
    responses={200: ("A page", LIST), **DENIED, **ERROR_RESPONSES},
)
def entries(query: dict[str, Any] | None = None) -> Any:
    query = query or {}
    start, limit = query.get("from_seq", 0), query.get("limit", 100)
    outcome = handle(
        access("ledger.read", None),
        effect=lambda uow, now: uow.ledger.entries(start, limit + 1),
        extra_payload={"view": "entries", "from_seq": start},
    )
    rows = list(outcome.result)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [e.to_json() for e in rows],
        "next_cursor": str(rows[-1].seq + 1) if more else None,
    }


@routes.route(
    "GET",
    "/v1/audit/events",
    "Search every dossier's traces (auditors)",
    query=AUDIT_QUERY,
    responses={200: ("A page", LIST), **DENIED, **ERROR_RESPONSES},
)
def audit_events(query: dict[str, Any] | None = None) -> Any:
    query = query or {}
    limit, before = paging(query)
    patient = query.get("patient_id")
    ref = vigie().appender.patient_ref(patient) if patient else None

    def effect(uow: UnitOfWork, now: Any) -> Any:
        found = uow.index.search(
            patient_ref=ref,
            actor_id=query.get("actor_id"),
            action=query.get("action"),
            mode=query.get("mode"),
            decision=query.get("decision"),
            since=query.get("since"),
            until=query.get("until"),
            before_seq=before,
            limit=limit + 1,
        )
        listed = page(found, limit)
        named_from_directory(uow, listed["items"])
        return listed

    outcome = handle(
        access("ledger.read", None),
        effect=effect,
        extra_payload={"view": "audit_events", "filters": {k: str(v) for k, v in query.items()}},
    )
    return outcome.result


@routes.route(
    "GET",
    "/v1/audit/break-glass",
    "Emergency accesses to review, with justifications and anomaly flags (auditors)",
    query={
        "actor_id": ID,
        "since": SINCE,
        "until": SINCE,
        "status": {"type": "string", "enum": list(STATUSES)},
        "limit": LIMIT,
        "cursor": CURSOR,
    },
    responses={200: ("A page, newest first", LIST), **DENIED, **ERROR_RESPONSES},
)
def break_glass_review(query: dict[str, Any] | None = None) -> Any:
    query = query or {}
    limit, before = paging(query)
    service = vigie()
    review = ReviewQuery(
        since=query.get("since"),
        until=query.get("until"),
        actor_id=query.get("actor_id"),
        before_seq=before,
        limit=limit,
        daily_flag=current_app.extensions["vigie.settings"].break_glass_daily_flag,
        status=query.get("status"),
    )
    outcome = handle(
        access("ledger.read", None),
        effect=lambda uow, now: break_glass_queue(uow, service.appender, review),
        extra_payload={"view": "break_glass_review"},
    )
    items = list(outcome.result)
    more = len(items) > limit
    items = items[:limit]
    tables = service.engine.tables
    for item in items:  # the document's official label and space, as in trace items
        if item["type_code"]:
            item.update(tables.type_json(item["type_code"]))
    return {"items": items, "next_cursor": encode_cursor(items[-1]["seq"]) if more else None}


@routes.route(
    "POST",
    "/v1/audit/reviews",
    "Mark an emergency access reviewed, with a comment (auditors; an audit.review entry "
    "citing the reviewed seq)",
    body=REVIEW,
    responses={200: ("Recorded", COMMAND_RESPONSE), **DENIED, **ERROR_RESPONSES},
)
def add_review(body: dict[str, Any]) -> Any:
    seq = body["seq"]
    comment = required(body["comment"], "comment", "a review needs a comment")

    def effect(uow: UnitOfWork, now: Any) -> None:
        hits = uow.index.search(before_seq=seq + 1, limit=1)
        if not hits or hits[0].seq != seq or hits[0].mode not in EMERGENCY_MODES:
            raise unprocessable(f"entry {seq} is not an emergency access", "seq")

    outcome = handle(
        access("audit.review", None),
        effect=effect,
        extra_payload={"reviewed_seq": seq, "comment": comment},
    )
    return decision_body(outcome)
