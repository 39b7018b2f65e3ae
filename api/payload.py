"""The payload of a decision's ledger entry: who asked what, under which request and decision.

Entries are hashed: the keys written here, their order and their values are part of the
ledger (LEDGER.md), so this is the one place an entry's payload is shaped. A denied request of
an actor with no relation to the dossier keeps no free text: each such field is replaced by
its length and digest (``withhold_free_text``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from engine.model import AccessRequest, BatchDecision, Decision, DocumentDecision, Facts
from engine.tables import Tables
from engine.vocabulary import ActorType, Mode

#: Payload fields holding what the caller wrote (not ids, codes or flags the schema bounds).
FREE_TEXT = ("justification", "opposition_reason")


def entry_payload(
    request: AccessRequest,
    request_id: str,
    decision_id: str,
    decision: Decision,
    facts: Facts,
    batch: BatchDecision | None,
    tables: Tables,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The payload of the entry recording ``decision`` on ``request`` (``batch``: the
    per-document decisions of a listing or batch; ``extra``: the route's own fields)."""
    actor = request.actor
    payload: dict[str, Any] = {
        "actor_id": actor.id,
        "actor_type": actor.type.value,
        "request_id": request_id,
        "decision_id": decision_id,
    }
    for key, value in (
        ("actor_name", actor.name),
        ("actor_profession", actor.profession),
        ("actor_specialty", actor.specialty),
        ("actor_structure", actor.structure),
        ("justification", request.justification),
        ("target_id", request.target_id),
    ):
        if value:
            payload[key] = value
    if actor.roles:
        payload["actor_roles"] = sorted(actor.roles)
    if request.draft is not None:
        payload["document_id"] = request.draft.document_id
        _document_type(payload, request.draft.type_code, tables)
    elif len(request.document_ids) == 1 and batch is None:
        document_id = request.document_ids[0]
        payload["document_id"] = document_id
        document = facts.documents.get(document_id)
        if document is not None:
            _document_type(payload, document.type_code, tables)
    if batch is not None:
        payload["documents"] = [_batch_item(d, facts) for d in batch.documents]
    payload.update(extra)
    if not decision.permitted and unrelated(request, facts):
        withhold_free_text(payload)
    return payload


def _document_type(payload: dict[str, Any], type_code: str, tables: Tables) -> None:
    """The document's type in an entry: code, and (for a type of policy/) its FHIR system
    and official label as they were when decided (exports and FHIR show them)."""
    payload["document_type"] = type_code
    kind = tables.describe(type_code)
    if kind is not None:
        payload["document_type_system"] = kind.system_uri
        payload["document_type_label"] = kind.label


def _batch_item(result: DocumentDecision, facts: Facts) -> dict[str, Any]:
    item = {
        "document_id": result.document_id,
        "decision": result.decision.effect.value,
        "reason": result.decision.reason.value,
    }
    document = facts.documents.get(result.document_id)
    if document is not None:
        item["document_type"] = document.type_code
    return item


def unrelated(request: AccessRequest, facts: Facts) -> bool:
    """Whether the actor has no relation to the dossier the request names: a patient not its
    holder, a representative not registered on it, a professional in normal mode neither
    authorised on it nor its treating doctor, an agent or a feed; or there is no dossier.
    A professional in an emergency mode is not counted: the justification is what the policy
    decides on (at most 1,000 characters to be accepted), and break glass is rate-limited,
    denials included. An auditor has a role on every dossier."""
    dossier, actor = facts.dossier, request.actor
    if dossier is None:
        return True
    kind = actor.type
    if kind is ActorType.PATIENT:
        return actor.id != dossier.patient_id
    if kind is ActorType.REPRESENTATIVE:
        return not (dossier.minor and actor.id in dossier.representatives)
    if kind is ActorType.PROFESSIONAL:
        if request.mode is not Mode.NORMAL:
            return False
        return actor.id not in dossier.authorized and actor.id != dossier.treating_doctor
    return kind is not ActorType.AUDITOR


def withhold_free_text(payload: dict[str, Any]) -> None:
    """Replace each free-text field of ``payload`` by ``<field>_withheld``: its length in
    characters and the SHA-256 of its UTF-8 bytes (the sender can show what was sent; the
    dossier's history does not carry it). For a denied request of an unrelated actor: the
    denial is traced, a stranger's text is not written into someone else's history."""
    for key in FREE_TEXT:
        value = payload.pop(key, None)
        if isinstance(value, str):
            digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
            payload[f"{key}_withheld"] = {"chars": len(value), "sha256": digest}
