"""Dossier state routes (API.md): each call is itself a decision, traced either way; a denial
is a 403 problem carrying the reason id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.endpoint import ERROR_RESPONSES, RouteTable, current_actor
from api.free_text import required
from api.history import hidden_from
from api.review import review
from api.routes.common import access, decision_body, document_json, dossier_json, handle, vigie
from api.schema import (
    ANY_OBJECT,
    COMMAND_RESPONSE,
    DOCUMENT_ADD,
    DOCUMENT_CHANGED,
    DOCUMENT_FLAGS,
    DOSSIER,
    DOSSIER_CREATE,
    DOSSIER_CREATED,
    LIMIT,
    LIST,
    OPPOSITION,
    SETTINGS_PATCH,
    TREATING_DOCTOR,
)
from api.service import Outcome
from engine.decide import PolicyEngine
from engine.model import Creation, DocumentDraft, DossierSettings, FlagChange
from engine.vocabulary import View
from models.database import UnitOfWork
from models.record import Notification

routes = RouteTable("dossiers", "dossiers")
DENIED = {403: ("Denied by the policy (the body's reason says why); traced", None)}
RESPONSES = {200: ("Permitted and done; traced", COMMAND_RESPONSE), **DENIED, **ERROR_RESPONSES}


def done(outcome: Outcome, status: int = 200, **extra: Any) -> tuple[dict[str, Any], int]:
    return {**decision_body(outcome), **extra}, status


@routes.route(
    "POST",
    "/v1/dossiers",
    "Create a dossier (dossier.create)",
    body=DOSSIER_CREATE,
    responses={
        201: ("Created; the decision and the new dossier", DOSSIER_CREATED),
        **DENIED,
        **ERROR_RESPONSES,
    },
)
def create_dossier(body: dict[str, Any]) -> Any:
    patient = body["patient_id"]
    representatives = frozenset(body.get("representatives", ()))
    minor = body.get("minor", False)
    settings = DossierSettings(**body.get("settings", {}))
    request = access(
        "dossier.create", patient, creation=Creation(body["consent"], minor, representatives)
    )

    def effect(uow: UnitOfWork, now: Any) -> Any:
        uow.dossiers.create(
            patient,
            minor=minor,
            representatives=sorted(representatives),
            settings=settings,
            now=now,
        )
        return uow.dossiers.get(patient)

    outcome = handle(request, effect=effect)
    return done(outcome, 201, dossier=dossier_json(outcome.result))


@routes.route(
    "GET",
    "/v1/dossiers/<pid>",
    "Read a dossier's state (dossier.read)",
    responses={200: ("The dossier", DOSSIER), **DENIED, **ERROR_RESPONSES},
)
def read_dossier(pid: str) -> Any:
    outcome = handle(access("dossier.read", pid))
    dossier = outcome.facts.dossier if outcome.facts is not None else None
    assert dossier is not None  # a permitted dossier.read found the dossier
    return {**dossier_json(dossier), "trace": outcome.trace}


@routes.route(
    "PATCH",
    "/v1/dossiers/<pid>/settings",
    "Change emergency settings",
    body=SETTINGS_PATCH,
    responses=RESPONSES,
)
def update_settings(pid: str, body: dict[str, Any]) -> Any:
    outcome = handle(
        access("dossier.settings.update", pid),
        effect=lambda uow, now: uow.dossiers.update_settings(pid, dict(body), now),
        extra_payload={"settings": dict(body)},
    )
    return done(outcome)


@routes.route("POST", "/v1/dossiers/<pid>/close", "Close a dossier", responses=RESPONSES)
def close_dossier(pid: str) -> Any:
    return done(
        handle(access("dossier.close", pid), effect=lambda uow, now: uow.dossiers.close(pid, now))
    )


@routes.route("POST", "/v1/dossiers/<pid>/reopen", "Reopen a closed dossier", responses=RESPONSES)
def reopen_dossier(pid: str) -> Any:
    return done(
        handle(access("dossier.reopen", pid), effect=lambda uow, now: uow.dossiers.reopen(pid, now))
    )


@routes.route(
    "PUT",
    "/v1/dossiers/<pid>/treating-doctor",
    "Designate the treating doctor",
    body=TREATING_DOCTOR,
    responses=RESPONSES,
)
def set_treating_doctor(pid: str, body: dict[str, Any]) -> Any:
    ps = body["professional_id"]
    return done(
        handle(
            access("treating_doctor.set", pid, target_id=ps),
            effect=lambda uow, now: uow.dossiers.set_treating_doctor(pid, ps, now),
        )
    )


@routes.route(
    "DELETE",
    "/v1/dossiers/<pid>/treating-doctor",
    "Remove the treating doctor",
    responses=RESPONSES,
)
def unset_treating_doctor(pid: str) -> Any:
    return done(
        handle(
            access("treating_doctor.unset", pid),
            effect=lambda uow, now: uow.dossiers.set_treating_doctor(pid, None, now),
        )
    )


def _membership(action: str, pid: str, target: str, change: Any, **extra: Any) -> Any:
    return done(handle(access(action, pid, target_id=target), effect=change, **extra))


MemberChange = Callable[[UnitOfWork, str, str, Any], Any]
"""``change(uow, patient_id, member_id, now)``: the state change of a permitted call."""


def _membership_route(
    name: str, method: str, path: str, summary: str, action: str, change: MemberChange
) -> None:
    """Declare the route that adds or removes one member (``path``'s last parameter) of a
    dossier's set: a decision on ``action`` whose permit applies ``change``."""

    def handler(pid: str, **member: str) -> Any:
        (target,) = member.values()
        return _membership(action, pid, target, lambda uow, now: change(uow, pid, target, now))

    handler.__name__ = name
    routes.route(method, path, summary, responses=RESPONSES)(handler)


_AUTHORIZATION = "/v1/dossiers/<pid>/authorizations/<ps_id>"
_BLOCK = "/v1/dossiers/<pid>/blocks/<ps_id>"
_OPPOSITION = "/v1/dossiers/<pid>/oppositions/<ps_id>"
_REPRESENTATIVE = "/v1/dossiers/<pid>/representatives/<person_id>"
# fmt: off
for _route in (
    ("grant", "PUT", _AUTHORIZATION,
     "Authorise a professional (on its own id: self-declaration)", "authorization.grant",
     lambda uow, pid, ps, now: uow.dossiers.grant(pid, ps, current_actor().id == ps, now)),
    ("revoke", "DELETE", _AUTHORIZATION, "Revoke an authorisation", "authorization.revoke",
     lambda uow, pid, ps, now: uow.dossiers.revoke(pid, ps)),
    ("block", "PUT", _BLOCK, "Block a professional", "block.add",
     lambda uow, pid, ps, now: uow.dossiers.block(pid, ps, now)),
    ("unblock", "DELETE", _BLOCK, "Unblock a professional", "block.remove",
     lambda uow, pid, ps, now: uow.dossiers.unblock(pid, ps)),
):
    _membership_route(*_route)
# fmt: on


@routes.route(
    "PUT",
    _OPPOSITION,
    "Oppose a professional feeding the dossier",
    body=OPPOSITION,
    responses=RESPONSES,
)
def add_opposition(pid: str, ps_id: str, body: dict[str, Any]) -> Any:
    reason = required(body["reason"], "reason", "an opposition needs a reason")
    return _membership(
        "opposition.add",
        pid,
        ps_id,
        lambda uow, now: uow.dossiers.add_opposition(pid, ps_id, reason, now),
        extra_payload={"opposition_reason": reason},
    )


# fmt: off
for _route in (
    ("remove_opposition", "DELETE", _OPPOSITION, "Lift a feeding opposition", "opposition.remove",
     lambda uow, pid, ps, now: uow.dossiers.remove_opposition(pid, ps)),
    ("add_representative", "PUT", _REPRESENTATIVE, "Register a legal representative",
     "representative.add",
     lambda uow, pid, person, now: uow.dossiers.add_representative(pid, person, now)),
    ("remove_representative", "DELETE", _REPRESENTATIVE, "Remove a legal representative",
     "representative.remove",
     lambda uow, pid, person, now: uow.dossiers.remove_representative(pid, person)),
):
    _membership_route(*_route)
# fmt: on


@routes.route(
    "POST",
    "/v1/dossiers/<pid>/documents",
    "Deposit a document's metadata",
    body=DOCUMENT_ADD,
    responses={
        201: ("Deposited; the decision and the document", DOCUMENT_CHANGED),
        **DENIED,
        **ERROR_RESPONSES,
    },
)
def add_document(pid: str, body: dict[str, Any]) -> Any:
    draft = DocumentDraft(
        body["document_id"],
        body["type_code"],
        body.get("masked", False),
        body.get("invisible_to_patient", False),
        body.get("invisible_to_representatives", False),
    )
    request = access(
        "document.add",
        pid,
        draft=draft,
        mode=body.get("mode", "normal"),
        justification=body.get("justification"),
    )
    engine = _engine()
    kind = engine.tables.document_types.get(draft.type_code)

    def effect(uow: UnitOfWork, now: Any) -> Any:
        assert kind is not None  # the engine rejects unknown types before any effect
        return uow.dossiers.add_document(pid, draft, kind.class_code, request.actor, now)

    outcome = handle(request, effect=effect)
    return done(outcome, 201, document=document_json(outcome.result))


@routes.route(
    "PATCH",
    "/v1/dossiers/<pid>/documents/<doc_id>",
    "Change a document's flags",
    body=DOCUMENT_FLAGS,
    responses=RESPONSES,
)
def update_flags(pid: str, doc_id: str, body: dict[str, Any]) -> Any:
    flags = FlagChange(**body)

    def effect(uow: UnitOfWork, now: Any) -> Any:
        return uow.dossiers.update_flags(pid, doc_id, flags)

    outcome = handle(
        access("document.update_flags", pid, document_ids=(doc_id,), flags=flags),
        effect=effect,
        extra_payload={"flags": dict(body)},
    )
    return done(outcome, document=document_json(outcome.result))


@routes.route(
    "DELETE", "/v1/dossiers/<pid>/documents/<doc_id>", "Delete a document", responses=RESPONSES
)
def delete_document(pid: str, doc_id: str) -> Any:
    return done(
        handle(
            access("document.delete", pid, document_ids=(doc_id,)),
            effect=lambda uow, now: uow.dossiers.delete_document(pid, doc_id),
        )
    )


@routes.route(
    "GET",
    "/v1/dossiers/<pid>/notifications",
    "The dossier's notification outbox",
    query={"limit": LIMIT, "cursor": {"type": "string", "pattern": "^[0-9]{1,18}$"}},
    responses={200: ("Newest first", LIST), **DENIED, **ERROR_RESPONSES},
)
def notifications(pid: str, query: dict[str, Any] | None = None) -> Any:
    """The outbox is read as the access review is (the holder, a representative, the treating
    doctor); a notice about a document hidden from the reader keeps its row (its type, time and
    entry: the history shows that entry withheld) without the document's id."""
    query = query or {}
    limit = query.get("limit", 50)
    before = int(query["cursor"]) if "cursor" in query else None
    reader = current_actor()

    def effect(uow: UnitOfWork, now: Any) -> Any:
        rows = uow.dossiers.notifications(pid, before_id=before, limit=limit + 1)
        return rows, hidden_from(uow, pid, reader, now)

    outcome = handle(
        access("dossier.read", pid, view=View.NOTIFICATIONS),
        effect=effect,
        extra_payload={"view": "notifications"},
    )
    rows, hidden = outcome.result
    rows = list(rows)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [_notification_json(n, hidden) for n in rows],
        "next_cursor": str(rows[-1].id) if more else None,
    }


def _notification_json(row: Notification, hidden: frozenset[str]) -> dict[str, Any]:
    withheld = row.document_id is not None and row.document_id in hidden
    return {
        "id": row.id,
        "type": row.type,
        "recipients": list(row.recipients),
        "document_id": None if withheld else row.document_id,
        "withheld": withheld,
        "entry_seq": row.entry_seq,
        "created_at": row.created_at.isoformat(),
        "status": row.status,
        "delivered_at": None if row.delivered_at is None else row.delivered_at.isoformat(),
    }


@routes.route(
    "GET",
    "/v1/dossiers/<pid>/access-review",
    "Who can read this dossier now, and what each emergency mode would open",
    responses={200: ("The review", ANY_OBJECT), **DENIED, **ERROR_RESPONSES},
)
def access_review(pid: str) -> Any:
    reader = current_actor()
    outcome = handle(
        access("dossier.read", pid, view=View.ACCESS_REVIEW),
        effect=lambda uow, now: review(_engine(), uow, pid, now, reader),
        extra_payload={"view": "access-review"},
    )
    return {**outcome.result, "trace": outcome.trace}


def _engine() -> PolicyEngine:
    return vigie().engine
