"""Entries as FHIR R4 AuditEvent resources in a ``collection`` Bundle (IHE BALP style).

- ``type``: DICOM 110110 "Patient Record"; ``subtype``: the Vigie action;
  ``action``: C/R/U/D/E from the action verb; ``recorded``: the header time;
  ``outcome``: ``0`` permit, ``8`` deny; ``outcomeDesc``: the reason id.
- ``purposeOfEvent`` and ``agent.purposeOfUse``: v3-ActReason ``BTG`` for ``break_glass``,
  ``ETREAT`` for ``regulation``.
- ``agent``: the actor (requestor); professionals are identified by RPPS
  (``urn:oid:1.2.250.1.71.4.2.1``), with their TRE_G15 profession as role.
- ``entity``: the patient (by id, or by ``patient_ref`` once erased), the document when there
  is one (its JDV_J66 type as a ``valueCoding`` with system, code and official display in the
  extension ``urn:vigie:fhir:extension:document-type``, the label as ``description``), and the
  ledger entry itself: ``what.identifier`` = seq (system
  ``urn:vigie:ledger:seq``), ``detail`` ``leaf_hash`` (hex). AuditEvent has no identifier
  element of its own, so the resource ``id`` is ``seq-<seq>`` and the entity carries both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.entry import Entry

ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
TRE_G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
SEQ_SYSTEM = "urn:vigie:ledger:seq"
DOCUMENT_TYPE = "urn:vigie:fhir:extension:document-type"
ACTION_SYSTEM = "urn:vigie:action"
PATIENT_REF_SYSTEM = "urn:vigie:patient-ref"
PURPOSE = {"break_glass": "BTG", "regulation": "ETREAT"}
_VERBS = {
    "read": "R", "list": "R", "export": "R", "create": "C", "add": "C", "set": "C",
    "grant": "C", "update": "U", "update_flags": "U", "close": "U", "reopen": "U",
    "delete": "D", "remove": "D", "unset": "D", "revoke": "D", "erase": "D",
}  # fmt: skip


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def audit_event(entry: Entry) -> dict[str, Any]:
    """One AuditEvent (a JSON-ready dict) for ``entry``; erased entries keep only what the
    header says."""
    header = entry.header_dict()
    payload = entry.payload_dict() or {}
    action = header["action"]
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"seq-{header['seq']}",
        "type": _coding("http://dicom.nema.org/resources/ontology/DCM", "110110", "Patient Record"),
        "subtype": [_coding(ACTION_SYSTEM, action)],
        "action": _VERBS.get(action.rsplit(".", 1)[-1], "E"),
        "recorded": header["time"],
        "outcome": "0" if header["decision"] == "permit" else "8",
        "outcomeDesc": header["reason"],
        "source": {
            "observer": {"display": "Vigie"},
            "type": [
                _coding(
                    "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "4",
                    "Application Server",
                )
            ],
        },
    }
    purpose = PURPOSE.get(header["mode"])
    purposes = [{"coding": [_coding(ACT_REASON, purpose)]}] if purpose else []
    if purposes:
        event["purposeOfEvent"] = purposes
    event["agent"] = [_agent(payload, purposes)]
    event["entity"] = _entities(entry, header["patient_ref"], payload)
    return event


def _agent(payload: dict[str, Any], purposes: list[dict[str, Any]]) -> dict[str, Any]:
    actor_type = str(payload.get("actor_type", "unknown"))
    actor_id = payload.get("actor_id") or payload.get("erased_by")
    who: dict[str, Any] = {}
    if actor_id is not None:
        system = RPPS if actor_type == "professional" else f"urn:vigie:actor:{actor_type}"
        who["identifier"] = {"system": system, "value": str(actor_id)}
    if payload.get("actor_name"):
        who["display"] = str(payload["actor_name"])
    agent: dict[str, Any] = {
        "type": {"text": actor_type},
        "who": who or {"display": "erased"},
        "requestor": True,
    }
    if payload.get("actor_profession"):
        agent["role"] = [{"coding": [_coding(TRE_G15, str(payload["actor_profession"]))]}]
    if purposes:
        agent["purposeOfUse"] = purposes
    return agent


def _entities(entry: Entry, ref: str | None, payload: dict[str, Any]) -> list[dict[str, Any]]:
    entity_type = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
    role = "http://terminology.hl7.org/CodeSystem/object-role"
    entities: list[dict[str, Any]] = []
    if payload.get("patient_id"):
        identifier = {"value": str(payload["patient_id"])}
    elif ref is not None:
        identifier = {"system": PATIENT_REF_SYSTEM, "value": ref}
    else:
        identifier = {}
    if identifier:
        entities.append(
            {
                "what": {"identifier": identifier},
                "type": _coding(entity_type, "1", "Person"),
                "role": _coding(role, "1", "Patient"),
            }
        )
    if payload.get("document_id"):
        document: dict[str, Any] = {
            "what": {"identifier": {"value": str(payload["document_id"])}},
            "type": _coding(entity_type, "2", "System Object"),
            "role": _coding(role, "3", "Report"),
        }
        if payload.get("document_type"):
            document.update(_document_type(payload))
        entities.append(document)
    entities.append(
        {
            "what": {"identifier": {"system": SEQ_SYSTEM, "value": str(entry.seq)}},
            "type": _coding(entity_type, "4", "Other"),
            "name": "ledger entry",
            "detail": [{"type": "leaf_hash", "valueString": entry.leaf_hash.hex()}],
        }
    )
    return entities


def _document_type(payload: dict[str, Any]) -> dict[str, Any]:
    """The document's type on its entity: ``description`` (the official label, else the code)
    and the coding (system, code, display) in the ``DOCUMENT_TYPE`` extension."""
    code = str(payload["document_type"])
    label = payload.get("document_type_label")
    coding: dict[str, str] = {"code": code}
    if payload.get("document_type_system"):
        coding = _coding(str(payload["document_type_system"]), code, label and str(label))
    elif label:
        coding["display"] = str(label)
    return {
        "description": str(label or code),
        "extension": [{"url": DOCUMENT_TYPE, "valueCoding": coding}],
    }


def audit_bundle(entries: Sequence[Entry], timestamp: str) -> dict[str, Any]:
    """A FHIR ``collection`` Bundle of the AuditEvents of ``entries`` (``timestamp`` is the
    export time, an RFC 3339 instant, passed in)."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": timestamp,
        "entry": [
            {"fullUrl": f"urn:vigie:ledger:seq:{e.seq}", "resource": audit_event(e)}
            for e in entries
        ],
    }
