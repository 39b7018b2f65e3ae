"""What every route module needs: the service, request building, denial and view helpers."""

from __future__ import annotations

from typing import Any

from flask import current_app, g

from api.endpoint import current_actor, request_id
from api.free_text import clean
from api.problem import ProblemError, forbidden, unprocessable
from api.service import Call, Outcome, Service
from engine.errors import InvalidRequestError
from engine.model import AccessRequest, Document, Dossier
from engine.vocabulary import Reason
from models.database import Database


def vigie() -> Service[Database]:
    service: Service[Database] = current_app.extensions["vigie"]
    return service


def access(action: str, patient_id: str | None, **fields: Any) -> AccessRequest:
    """An engine request for the authenticated actor; bad fields become 422 naming them.
    A justification is cleaned first (``api.free_text``): the engine decides on the text
    that is stored, and one that shows nothing is no justification."""
    if fields.get("justification") is not None:
        fields["justification"] = clean(fields["justification"], "justification")
    try:
        return AccessRequest(actor=current_actor(), action=action, patient_id=patient_id, **fields)
    except InvalidRequestError as exc:
        raise unprocessable(str(exc), exc.field) from None


def run(call: Call) -> Outcome:
    try:
        outcome = vigie().handle(call)
    except InvalidRequestError as exc:
        raise unprocessable(str(exc), exc.field) from None
    g.outcome = outcome
    if outcome.decision.reason is Reason.RATE_LIMITED:
        raise ProblemError(
            429,
            "Too many requests",
            "rate limit reached for this kind of access; the attempt is recorded",
            slug="rate-limited",
            reason=Reason.RATE_LIMITED.value,
            extra={"decision": "deny", "decision_id": outcome.decision_id, "trace": outcome.trace},
        )
    return outcome


def handle(request: AccessRequest, **options: Any) -> Outcome:
    """Handle ``request`` and raise the 403 problem of a denial (traced either way)."""
    outcome = run(Call(request, request_id(), **options))
    if not outcome.decision.permitted:
        raise denial(outcome)
    return outcome


def denial(outcome: Outcome) -> ProblemError:
    reason = outcome.decision.reason.value
    return forbidden(
        reason,
        f"denied by the access policy: {reason}",
        extra={"decision": "deny", "decision_id": outcome.decision_id, "trace": outcome.trace},
    )


def decision_body(outcome: Outcome) -> dict[str, Any]:
    decision = outcome.decision
    return {
        "decision": decision.effect.value,
        "reason": decision.reason.value,
        "obligations": [o.to_json() for o in decision.obligations],
        "decision_id": outcome.decision_id,
        "trace": outcome.trace,
    }


def document_json(document: Document) -> dict[str, Any]:
    """A document object: its metadata, with the official label, class and DMP space of its
    type (``Tables.type_json``; the stored class for a type policy/ no longer lists)."""
    return {
        "document_id": document.document_id,
        "class_code": document.class_code,
        **vigie().engine.tables.type_json(document.type_code),
        "author_id": document.author_id,
        "author_type": document.author_type.value,
        "deposited_at": document.deposited_at.isoformat(),
        "masked": document.masked,
        "invisible_to_patient": document.invisible_to_patient,
        "invisible_to_representatives": document.invisible_to_representatives,
        "status": document.status.value,
    }


def dossier_json(dossier: Dossier) -> dict[str, Any]:
    return {
        "patient_id": dossier.patient_id,
        "status": dossier.status.value,
        "closed_at": dossier.closed_at.isoformat() if dossier.closed_at else None,
        "minor": dossier.minor,
        "settings": {
            "break_glass_allowed": dossier.settings.break_glass_allowed,
            "regulation_allowed": dossier.settings.regulation_allowed,
            "emergency_sees_masked": dossier.settings.emergency_sees_masked,
        },
        "treating_doctor": dossier.treating_doctor,
        "authorized": sorted(dossier.authorized),
        "blocked": sorted(dossier.blocked),
        "representatives": sorted(dossier.representatives),
        "oppositions": sorted(dossier.feeding_oppositions),
    }
