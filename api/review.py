"""The access review: who can read a dossier right now, on what basis, and what each
emergency mode would open given the holder's current settings (API.md access-review)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.decide import PolicyEngine
from engine.feature import hidden_from_patient
from engine.model import Document, Dossier
from engine.vocabulary import DocumentStatus
from models.database import UnitOfWork
from models.record import AccessBasis


def review(engine: PolicyEngine, uow: UnitOfWork, patient_id: str, now: datetime) -> dict[str, Any]:
    dossier = uow.dossiers.get(patient_id)
    assert dossier is not None  # the decision that led here found it
    documents = [
        d for d in uow.dossiers.documents(patient_id).values() if d.status is DocumentStatus.ACTIVE
    ]
    return {
        "patient_id": patient_id,
        "professionals": _professionals(
            dossier, documents, uow.dossiers.professionals_with_access(patient_id)
        ),
        "emergency": {
            "break_glass": _emergency(dossier, documents, dossier.settings.break_glass_allowed),
            "regulation": _emergency(dossier, documents, dossier.settings.regulation_allowed),
        },
        "hidden_from_patient": [d.document_id for d in documents if hidden_from_patient(d, now)],
        "policy_version": engine.policy_version,
        "note": "document lists are before the habilitation matrix, which depends on each "
        "professional's profession (policy/habilitation.csv)",
    }


def _professionals(
    dossier: Dossier, documents: list[Document], bases: dict[str, AccessBasis]
) -> list[dict[str, Any]]:
    listed = []
    for ps, basis in bases.items():
        if basis.blocked:
            continue
        consent = basis.authorized or basis.treating_doctor
        readable = [
            d.document_id
            for d in documents
            if consent and (not d.masked or basis.treating_doctor or d.author_id == ps)
        ]
        names = [
            name
            for name, present in (
                ("authorized", basis.authorized),
                ("self_declared", basis.self_declared),
                ("treating_doctor", basis.treating_doctor),
                ("author", bool(basis.authored)),
            )
            if present
        ]
        listed.append(
            {
                "professional_id": ps,
                "basis": names,
                "documents": readable,
                "feeding_opposed": ps in dossier.feeding_oppositions,
            }
        )
    return listed


def _emergency(dossier: Dossier, documents: list[Document], allowed: bool) -> dict[str, Any]:
    if not allowed or dossier.status.value != "open":
        return {"allowed": False, "documents": []}
    sees_masked = dossier.settings.emergency_sees_masked
    return {
        "allowed": True,
        "sees_masked": sees_masked,
        "documents": [d.document_id for d in documents if sees_masked or not d.masked],
    }
