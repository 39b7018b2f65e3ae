"""Traces of one dossier (newest first, filtered, cursor-paged) and the patient's export."""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, current_app

from api.endpoint import ERROR_RESPONSES, RouteTable
from api.problem import unprocessable
from api.routes.common import access, decide, vigie
from api.schema import ANY_OBJECT, LIST, TRACE_QUERY
from api.service import Outcome, Vigie
from api.witnessing import Witnessing, note_size
from ledger.cosignature import add_cosignatures
from ledger.entry import Entry
from ledger.export import dump_bundle, patient_history, proven_bundle
from ledger.fhir import audit_bundle
from models.database import UnitOfWork
from models.ledger_index import IndexedEntry

routes = RouteTable("traces", "traces")
DENIED = {403: ("Denied by the policy; traced", None)}
DEFAULT_LIMIT = 50


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "seq" or not value.isdigit():
            raise ValueError(text)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise unprocessable("cursor is not one this service issued", "cursor") from None


def trace_item(entry: Entry) -> dict[str, Any]:
    """One line of an access history: what was done, by whom, and the answer; an entry about
    one document also carries its type's code, official label and DMP space
    (``Tables.type_json``)."""
    header = entry.header_dict()
    payload = entry.payload_dict()
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
        "actor": None,
        "document_id": None,
    }
    if payload is not None:
        item["actor"] = {
            "id": payload.get("actor_id"),
            "type": payload.get("actor_type"),
            "name": payload.get("actor_name"),
            "profession": payload.get("actor_profession"),
        }
        item["document_id"] = payload.get("document_id")
        if payload.get("document_type"):
            item |= vigie().engine.tables.type_json(str(payload["document_type"]))
        if payload.get("justification"):
            item["justification"] = payload["justification"]
    return item


def page(found: list[IndexedEntry], limit: int) -> dict[str, Any]:
    more = len(found) > limit
    entries = [f.entry for f in found[:limit]]
    return {
        "items": [trace_item(e) for e in entries],
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
    limit = query.get("limit", DEFAULT_LIMIT)
    before = decode_cursor(query.get("cursor"))
    ref = vigie().appender.patient_ref(pid)

    def effect(uow: UnitOfWork, now: Any) -> Any:
        return uow.index.search(
            patient_ref=ref,
            actor_type=query.get("actor_type"),
            action=query.get("action"),
            mode=query.get("mode"),
            since=query.get("since"),
            until=query.get("until"),
            before_seq=before,
            limit=limit + 1,
        )

    outcome = decide(access("traces.read", pid), effect=effect)
    return page(list(outcome.result), limit)


def _covering_checkpoint(service: Vigie, uow: UnitOfWork, entry: Entry) -> tuple[str, int]:
    """A checkpoint covering the export ``entry`` (just appended in ``uow``): (note, size).
    Signed now at the export's size, unless one already covers it (signed past it by a later
    call of the same group commit): the proofs are then made against that one."""
    signed = service.sign_checkpoint(uow, entry.seq + 1)
    if signed is not None:
        return signed.note, signed.checkpoint.size
    latest = uow.ledger.checkpoint_latest()
    assert latest is not None  # sign_checkpoint returns None only when one covers it
    return latest.note, latest.size


def export_bundle(service: Vigie, uow: UnitOfWork, pid: str, entry: Entry) -> dict[str, Any]:
    """The vigie-access-history/v1 bundle ending with the export ``entry``."""
    note, size = _covering_checkpoint(service, uow, entry)
    history = patient_history(uow.ledger, entry.patient_ref or "", entry.seq)
    return proven_bundle(uow.ledger, pid, history, note, size, service.verifier_key)


def _cosigned_bundle(
    service: Vigie,
    witnessing: Witnessing,
    pid: str,
    entry: Entry,
    bundle: dict[str, Any],
    wait: float,
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
                history = patient_history(uow.ledger, entry.patient_ref or "", entry.seq)
                cosigned, later_size = add_cosignatures(*later), note_size(later[0])
                key = service.verifier_key
                return proven_bundle(uow.ledger, pid, history, cosigned, later_size, key)
    return {**bundle, "checkpoint": note}


@routes.route(
    "GET",
    "/v1/dossiers/<pid>/traces/export",
    "The verifiable access history (vigie-access-history/v1, or FHIR with format=fhir)",
    query={"format": {"type": "string", "enum": ["json", "fhir"]}},
    responses={200: ("The bundle", ANY_OBJECT), **DENIED, **ERROR_RESPONSES},
)
def export(pid: str, query: dict[str, Any] | None = None) -> Any:
    fhir = (query or {}).get("format") == "fhir"
    service = vigie()

    def follow(uow: UnitOfWork, entry: Entry, now: Any) -> Any:
        if fhir:
            _covering_checkpoint(service, uow, entry)  # every export is checkpointed
            history = patient_history(uow.ledger, entry.patient_ref or "", entry.seq)
            return audit_bundle(history, now.isoformat())
        return export_bundle(service, uow, pid, entry)

    outcome: Outcome = decide(access("traces.export", pid), follow=follow)
    witnessing = current_app.extensions.get("vigie.witnessing")
    result = outcome.result
    if witnessing is not None and not fhir:  # committed: only the bundle waits, bounded
        wait = current_app.extensions["vigie.settings"].witness_wait
        result = _cosigned_bundle(service, witnessing, pid, outcome.entry, result, wait)
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
