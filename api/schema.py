"""JSON Schemas of every request body and response the API defines.

Route declarations (``api/endpoint.py``) name these; the same objects validate requests and
build ``/openapi.json``, so the contract is written once.
"""

from __future__ import annotations

from typing import Any

from api.identifiers import DOCUMENT_ID, PATIENT_ID, PERSON_ID, PROFESSIONAL_ID
from engine.vocabulary import Action, ActorType, Effect, Mode, ObligationType, Reason, Recipient

Schema = dict[str, Any]

#: Any id as the service stores and returns it (responses, the ``actor_id`` filter: a token's
#: ``sub``); requests name patients, people, documents and professionals with the stricter
#: schemas of ``api.identifiers``.
ID: Schema = {"type": "string", "minLength": 1, "maxLength": 128}
#: A JDV_J66 type code; ``/openapi.json`` adds the enum of the accepted types, built from the
#: engine's own tables (``api.openapi``), which check it (422 naming ``type_code``).
TYPE_CODE: Schema = {"type": "string", "minLength": 1, "maxLength": 32}
FLAGS_PROPERTIES = {
    "masked": {"type": "boolean"},
    "invisible_to_patient": {"type": "boolean"},
    "invisible_to_representatives": {"type": "boolean"},
}
JUSTIFICATION = {"type": ["string", "null"], "maxLength": 4000}
MODE = {"type": "string", "enum": [m.value for m in Mode]}
ACTION = {"type": "string", "enum": [a.value for a in Action]}


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    """A closed object schema: unknown fields are rejected."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


OBLIGATION = obj(
    {
        "type": {"type": "string", "enum": [o.value for o in ObligationType]},
        "recipients": {"type": "array", "items": {"enum": [r.value for r in Recipient]}},
    },
    ("type", "recipients"),
)
TRACE_REF = obj({"seq": {"type": "integer"}, "leaf_hash": {"type": "string"}}, ("seq", "leaf_hash"))
_LABEL = {"type": ["string", "null"]}
#: What a document object or trace item says about its type (``Tables.type_json``): official
#: labels (JDV_J66, JDV_J57) and the DMP space (policy/spaces.csv); null for a type policy/
#: does not list.
TYPE_LABELS = {"type_label": _LABEL, "class_label": _LABEL, "group": _LABEL, "group_label": _LABEL}
DOCUMENT = obj(
    {
        "document_id": ID,
        "type_code": {"type": "string"},
        "class_code": {"type": "string"},
        **TYPE_LABELS,
        "author_id": {"type": "string"},
        "author_type": {"type": "string", "enum": [a.value for a in ActorType]},
        "deposited_at": {"type": "string", "format": "date-time"},
        "masked": {"type": "boolean"},
        "invisible_to_patient": {"type": "boolean"},
        "invisible_to_representatives": {"type": "boolean"},
        "status": {"type": "string", "enum": ["active", "deleted"]},
    },
    (
        "document_id",
        "type_code",
        "class_code",
        *TYPE_LABELS,
        "author_id",
        "author_type",
        "deposited_at",
        "masked",
        "invisible_to_patient",
        "invisible_to_representatives",
        "status",
    ),
)

FLAG_OBJECT = {**obj(dict(FLAGS_PROPERTIES)), "minProperties": 1}
#: The actions whose ``target_id`` is a professional (the others name a person).
PROFESSIONAL_TARGETS = (
    Action.AUTHORIZATION_GRANT.value,
    Action.AUTHORIZATION_REVOKE.value,
    Action.BLOCK_ADD.value,
    Action.BLOCK_REMOVE.value,
    Action.TREATING_DOCTOR_SET.value,
    Action.OPPOSITION_ADD.value,
    Action.OPPOSITION_REMOVE.value,
)
DECISION_REQUEST = obj(
    {
        "patient_id": PATIENT_ID,
        "action": ACTION,
        "document_id": {**DOCUMENT_ID, "type": ["string", "null"]},
        "mode": MODE,
        "justification": JUSTIFICATION,
        # Extensions: what some actions need to be decided without being performed.
        "type_code": TYPE_CODE,
        "target_id": {
            "type": "string",
            "description": "the professional (PS_IdNat) or the person the action concerns",
        },
        "flags": FLAG_OBJECT,
        "consent": {"type": "boolean"},
    },
    ("patient_id", "action"),
    allOf=[
        {
            "if": {
                "properties": {"action": {"enum": list(PROFESSIONAL_TARGETS)}},
                "required": ["action"],
            },
            "then": {"properties": {"target_id": PROFESSIONAL_ID}},
            "else": {"properties": {"target_id": PERSON_ID}},
        }
    ],
)
DECISION_RESPONSE = obj(
    {
        "decision": {"enum": [e.value for e in Effect]},
        "reason": {"enum": [r.value for r in Reason]},
        "obligations": {"type": "array", "items": OBLIGATION},
        "decision_id": {"type": "string", "format": "uuid"},
        "trace": TRACE_REF,
        "documents": {"type": "array", "items": DOCUMENT},
    },
    ("decision", "reason", "obligations", "decision_id", "trace"),
)
BATCH_REQUEST = obj(
    {
        "patient_id": PATIENT_ID,
        "action": {"type": "string", "enum": ["document.read", "document.delete"]},
        "document_ids": {"type": "array", "items": DOCUMENT_ID, "minItems": 1, "maxItems": 1000},
        "mode": MODE,
        "justification": JUSTIFICATION,
    },
    ("patient_id", "document_ids"),
)
BATCH_RESPONSE = obj(
    {
        "decisions": {
            "type": "array",
            "items": obj(
                {
                    "document_id": ID,
                    "decision": {"enum": [e.value for e in Effect]},
                    "reason": {"enum": [r.value for r in Reason]},
                    "obligations": {"type": "array", "items": OBLIGATION},
                },
                ("document_id", "decision", "reason", "obligations"),
            ),
        },
        "decision_id": {"type": "string"},
        "trace": TRACE_REF,
    },
    ("decisions", "decision_id", "trace"),
)
SETTINGS = obj(
    {
        "break_glass_allowed": {"type": "boolean"},
        "regulation_allowed": {"type": "boolean"},
        "emergency_sees_masked": {"type": "boolean"},
    },
)
SETTINGS_PATCH = {**SETTINGS, "minProperties": 1}
DOSSIER_CREATE = obj(
    {
        "patient_id": PATIENT_ID,
        "consent": {"type": "boolean"},
        "minor": {"type": "boolean"},
        "representatives": {
            "type": "array",
            "items": PERSON_ID,
            "maxItems": 20,
            "uniqueItems": True,
        },
        "settings": SETTINGS,
    },
    ("patient_id", "consent"),
)
DOSSIER = obj(
    {
        "patient_id": ID,
        "status": {"enum": ["open", "closed"]},
        "closed_at": {"type": ["string", "null"], "format": "date-time"},
        "minor": {"type": "boolean"},
        "settings": SETTINGS,
        "treating_doctor": {"type": ["string", "null"]},
        "authorized": {"type": "array", "items": ID},
        "blocked": {"type": "array", "items": ID},
        "representatives": {"type": "array", "items": ID},
        "oppositions": {"type": "array", "items": ID},
        "trace": TRACE_REF,
    },
)
TREATING_DOCTOR = obj({"professional_id": PROFESSIONAL_ID}, ("professional_id",))
OPPOSITION = obj({"reason": {"type": "string", "minLength": 1, "maxLength": 1000}}, ("reason",))
DOCUMENT_ADD = obj(
    {
        "document_id": DOCUMENT_ID,
        "type_code": TYPE_CODE,
        **FLAGS_PROPERTIES,
        "mode": MODE,
        "justification": JUSTIFICATION,
    },
    ("document_id", "type_code"),
)
DOCUMENT_FLAGS = FLAG_OBJECT
COMMAND_RESPONSE = obj(
    {
        "decision": {"enum": ["permit"]},
        "reason": {"type": "string"},
        "obligations": {"type": "array", "items": OBLIGATION},
        "decision_id": {"type": "string"},
        "trace": TRACE_REF,
    },
    ("decision", "reason", "trace"),
    additionalProperties=True,
)
DOSSIER_CREATED = {
    **COMMAND_RESPONSE,
    "properties": {**COMMAND_RESPONSE["properties"], "dossier": DOSSIER},
    "required": [*COMMAND_RESPONSE["required"], "dossier"],
}
DOCUMENT_CHANGED = {
    **COMMAND_RESPONSE,
    "properties": {**COMMAND_RESPONSE["properties"], "document": DOCUMENT},
    "required": [*COMMAND_RESPONSE["required"], "document"],
}
PROBLEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "reason": {"type": "string"},
        "field": {"type": "string"},
        "request_id": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}
LIST = {
    "type": "object",
    "properties": {"items": {"type": "array"}, "next_cursor": {"type": ["string", "null"]}},
    "required": ["items", "next_cursor"],
}
PROOF = obj(
    {
        "leaf_hash": {"type": "string"},
        "proof": {"type": "array", "items": {"type": "string"}},
        "tree_size": {"type": "integer"},
        "seq": {"type": "integer"},
        "from_size": {"type": "integer"},
        "to_size": {"type": "integer"},
    },
    ("proof",),
)
ANY_OBJECT: Schema = {"type": "object"}

# Query parameters: name → schema; integers and date-times are coerced before validation.
LIMIT = {"type": "integer", "minimum": 1, "maximum": 500}
CURSOR = {"type": "string", "maxLength": 64}
SINCE = {"type": "string", "format": "date-time"}
TRACE_QUERY: dict[str, Schema] = {
    "actor_type": {"type": "string", "enum": [a.value for a in ActorType]},
    "actor_id": ID,
    "mode": MODE,
    "action": ACTION,
    "since": SINCE,
    "until": SINCE,
    "limit": LIMIT,
    "cursor": CURSOR,
}
AUDIT_QUERY = {
    "actor_id": ID,
    "patient_id": PATIENT_ID,
    "mode": MODE,
    "action": ACTION,
    "decision": {"type": "string", "enum": [e.value for e in Effect]},
    "since": SINCE,
    "until": SINCE,
    "limit": LIMIT,
    "cursor": CURSOR,
}
TRACE_SUMMARY = obj(
    {
        "counts": obj(
            {
                "all": {"type": "integer"},
                "own": {"type": "integer", "description": "entries by the caller"},
                "professionals": {"type": "integer"},
            },
            ("all", "own", "professionals"),
        ),
        "emergency": {
            "type": "array",
            "description": "break-glass and regulation entries of the last 90 days, newest "
            "first (who, when, mode, justification, decision); new: after the caller's "
            "previous traces.read",
            "items": {"type": "object"},
        },
        "emergency_since": SINCE,
        "last_visit": {"type": ["string", "null"], "format": "date-time"},
        "trace": TRACE_REF,
    },
    ("counts", "emergency", "emergency_since", "last_visit", "trace"),
)
REVIEW = obj(
    {
        "seq": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1},
        "comment": {"type": "string", "minLength": 1, "maxLength": 1000},
    },
    ("seq", "comment"),
)
