"""Turns tests/engine/scenarios.json rows into engine requests and facts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.model import (
    AccessRequest,
    Actor,
    Creation,
    Document,
    DocumentDraft,
    Dossier,
    Facts,
    FlagChange,
    Settings,
)
from engine.sample import CLASSES
from engine.vocabulary import ActorType, DossierStatus

TABLE = json.loads(Path(__file__).with_name("scenarios.json").read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(TABLE["now"])
CLASS_OF = {**CLASSES, "ATTEST-RESID": "95"}  # the policy's type -> class table, as in the mix


def actor(key: str) -> Actor:
    return Actor.from_claims(TABLE["actors"][key])


def actor_id(key: str) -> str:
    return TABLE["actors"][key]["sub"] if key in TABLE["actors"] else key


def ids(keys: list[str]) -> frozenset[str]:
    return frozenset(actor_id(k) for k in keys)


def document(key: str) -> Document:
    spec = TABLE["documents"][key]
    author = TABLE["actors"][spec["author"]]
    return Document(
        document_id=key,
        type_code=spec["type_code"],
        class_code=CLASS_OF[spec["type_code"]],
        author_id=author["sub"],
        author_type=ActorType(author["actor_type"]),
        deposited_at=NOW - timedelta(days=spec["days_ago"]),
        status=spec.get("status", "active"),
        masked=spec.get("masked", False),
        invisible_to_patient=spec.get("invisible_to_patient", False),
        invisible_to_representatives=spec.get("invisible_to_representatives", False),
        representatives_flag_cleared=spec.get("representatives_flag_cleared", False),
    )


def dossier(row: dict[str, Any]) -> Dossier | None:
    if row.get("dossier") is None:
        return None
    spec = {**TABLE["dossiers"][row["dossier"]], **row.get("with", {})}
    closed_days = spec.pop("closed_days_ago", None)
    settings = Settings(**spec.pop("settings", {}))
    for field in ("representatives", "authorized", "blocked", "feeding_oppositions"):
        spec[field] = ids(spec.get(field, []))
    if spec.get("treating_doctor"):
        spec["treating_doctor"] = actor_id(spec["treating_doctor"])
    built = Dossier(
        **spec,
        settings=settings,
        closed_at=NOW - timedelta(days=closed_days) if closed_days else None,
    )
    if built.status is DossierStatus.CLOSED:
        assert built.closed_at is not None
    return built


def request_and_facts(row: dict[str, Any]) -> tuple[AccessRequest, Facts]:
    built = dossier(row)
    patient = row.get("patient", built.patient_id if built else "P1")
    justification = row.get("justification")
    if "justification_length" in row:
        justification = "x" * row["justification_length"]
    request = AccessRequest(
        actor=actor(row["actor"]),
        action=row["action"],
        patient_id=patient,
        mode=row.get("mode", "normal"),
        justification=justification,
        document_ids=(row["document"],) if "document" in row else (),
        target_id=actor_id(row["target"]) if "target" in row else None,
        draft=DocumentDraft(**row["draft"]) if "draft" in row else None,
        flags=FlagChange(**row["flags"]) if "flags" in row else None,
        creation=replace(Creation(**row["creation"])) if "creation" in row else None,
    )
    documents = {key: document(key) for key in row.get("documents", [])}
    return request, Facts(built, documents, first_access=row.get("first_access", False))
