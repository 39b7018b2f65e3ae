"""``/v1/decisions``: the decision point dossier services call before showing or storing."""

from __future__ import annotations

from typing import Any

from api.endpoint import ERROR_RESPONSES, RouteTable, request_id
from api.routes.common import access, decision_body, document_json, run
from api.schema import BATCH_REQUEST, BATCH_RESPONSE, DECISION_REQUEST, DECISION_RESPONSE
from api.service import Call
from engine.model import Creation, DocumentDraft, FlagChange
from engine.vocabulary import Action

routes = RouteTable("decisions", "decisions")


@routes.route(
    "POST",
    "/v1/decisions",
    "Decide one request (a deny is a 200: the decision point answered)",
    body=DECISION_REQUEST,
    responses={200: ("The decision, recorded in the ledger", DECISION_RESPONSE), **ERROR_RESPONSES},
)
def decide_one(body: dict[str, Any]) -> Any:
    action = body["action"]
    document_id = body.get("document_id")
    fields: dict[str, Any] = {
        "mode": body.get("mode", "normal"),
        "justification": body.get("justification"),
        "target_id": body.get("target_id"),
    }
    if action == Action.DOCUMENT_ADD:
        if document_id and body.get("type_code"):
            flags = body.get("flags", {})
            fields["draft"] = DocumentDraft(document_id, body["type_code"], **flags)
    elif document_id:
        fields["document_ids"] = (document_id,)
    if "flags" in body and action == Action.DOCUMENT_UPDATE_FLAGS:
        fields["flags"] = FlagChange(**body["flags"])
    if action == Action.DOSSIER_CREATE and "consent" in body:
        fields["creation"] = Creation(consent=body["consent"])
    request = access(action, body["patient_id"], **fields)
    listing = request.action is Action.DOCUMENT_LIST
    outcome = run(Call(request, request_id(), documents=listing))
    answer = decision_body(outcome)
    if listing and outcome.decision.permitted and outcome.facts is not None:
        documents = outcome.facts.documents
        answer["documents"] = [
            document_json(documents[d.document_id])
            for d in outcome.documents
            if d.decision.permitted
        ]
    return answer


@routes.route(
    "POST",
    "/v1/decisions/batch",
    "Decide many documents at once (at most 1,000), one entry",
    body=BATCH_REQUEST,
    responses={200: ("Each document's decision", BATCH_RESPONSE), **ERROR_RESPONSES},
)
def decide_batch(body: dict[str, Any]) -> Any:
    request = access(
        body.get("action", "document.read"),
        body["patient_id"],
        mode=body.get("mode", "normal"),
        justification=body.get("justification"),
        document_ids=tuple(body["document_ids"]),
    )
    outcome = run(Call(request, request_id(), documents=True))
    return {
        "decisions": [
            {
                "document_id": d.document_id,
                "decision": d.decision.effect.value,
                "reason": d.decision.reason.value,
                "obligations": [o.to_json() for o in d.decision.obligations],
            }
            for d in outcome.documents
        ],
        "decision_id": outcome.decision_id,
        "trace": outcome.trace,
    }
