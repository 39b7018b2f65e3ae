"""The access review: who can read a dossier right now, on what basis, and what each
emergency mode would open given the holder's current settings (API.md access-review).

Nothing here re-derives the policy: every document listed is one the engine permits now.
For each professional with a basis (authorised, treating doctor, author; blocked ones are
left out) whose profession the directory knows, the documents are those a ``document.read``
in normal mode by that professional would be permitted. The emergency lines are what a
break-glass doctor (profession 10, justified, with no basis of its own) and the SAMU
regulator would be permitted to read. A professional of unknown profession (authorised
before any access) is listed with ``documents: null``: the matrix needs the profession.

A document hidden from the one who reads the review (``engine.visibility``: the holder does
not see a result still ``invisible_to_patient``, a representative neither that nor a minor's
``invisible_to_representatives`` document) appears nowhere in it: not in a professional's
list, the emergency lines, ``hidden_from_patient`` nor ``documents``; ``hidden_from_you``
says how many (active) there are, as the holder's page and the pending-result notice do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from engine.decide import PolicyEngine
from engine.feature import hidden_from_patient
from engine.model import AccessRequest, Actor, Dossier, Facts
from engine.visibility import hidden_documents
from engine.vocabulary import (
    REGULATOR_PROFESSION,
    REGULATOR_ROLE,
    Action,
    ActorType,
    DocumentStatus,
    Mode,
)
from models.database import UnitOfWork
from models.directory import Professional
from models.record import AccessBasis

#: The stand-ins whose permits the emergency lines list (ids no real professional has).
BREAK_GLASS_DOCTOR = Actor("review:break-glass", ActorType.PROFESSIONAL, REGULATOR_PROFESSION)
REGULATOR = Actor(
    "review:regulator",
    ActorType.PROFESSIONAL,
    REGULATOR_PROFESSION,
    roles=frozenset({REGULATOR_ROLE}),
)
JUSTIFICATION = "access review"


def review(
    engine: PolicyEngine,
    uow: UnitOfWork,
    patient_id: str,
    now: datetime,
    reader: Actor | None = None,
) -> dict[str, Any]:
    """The review as ``reader`` (the one who asked; None: no one in particular) may read it:
    documents hidden from the reader (``engine.visibility``) are in none of its lists."""
    dossier = uow.dossiers.get(patient_id)
    assert dossier is not None  # the decision that led here found it
    documents = uow.dossiers.documents(patient_id)
    hidden: frozenset[str] = frozenset()
    if reader is not None:
        hidden = hidden_documents(engine, reader, dossier, documents, now)
    hidden_active = sum(1 for i in hidden if documents[i].status is DocumentStatus.ACTIVE)
    documents = {i: d for i, d in documents.items() if i not in hidden}
    facts = Facts(dossier, documents)
    bases = _without_hidden(uow.dossiers.professionals_with_access(patient_id), hidden)
    directory = uow.directory.lookup(set(bases) | dossier_people(dossier))
    readable = _Readable(engine, patient_id, facts, now)
    active = [d for d in documents.values() if d.status is DocumentStatus.ACTIVE]
    return {
        "patient_id": patient_id,
        "professionals": _professionals(dossier, bases, directory, readable),
        "emergency": {
            "break_glass": _emergency(
                dossier.settings.break_glass_allowed,
                dossier,
                readable,
                BREAK_GLASS_DOCTOR,
                Mode.BREAK_GLASS,
            ),
            "regulation": _emergency(
                dossier.settings.regulation_allowed, dossier, readable, REGULATOR, Mode.REGULATION
            ),
        },
        "hidden_from_patient": [
            d.document_id for d in active if hidden_from_patient(d, now, engine.limits)
        ],
        "hidden_from_you": hidden_active,
        "documents": {
            d.document_id: {
                "type_code": d.type_code,
                "title": engine.tables.document_title(d.type_code),
            }
            for d in active
        },
        "directory": {ps: found.to_json() for ps, found in directory.items()},
        "policy_version": engine.policy_version,
    }


def _without_hidden(
    bases: Mapping[str, AccessBasis], hidden: frozenset[str]
) -> dict[str, AccessBasis]:
    """``bases`` without authorship of a hidden document: an author whose only documents
    are hidden from the reader is not listed (that would say who wrote the secret)."""
    kept = {}
    for ps, basis in bases.items():
        authored = tuple(d for d in basis.authored if d not in hidden)
        if authored == basis.authored:
            kept[ps] = basis
        elif basis.authorized or basis.treating_doctor or authored or basis.blocked:
            kept[ps] = replace(basis, authored=authored)
    return kept


def dossier_people(dossier: Dossier) -> set[str]:
    """Every professional id the dossier's lists name."""
    people = set(dossier.authorized) | dossier.blocked | dossier.feeding_oppositions
    if dossier.treating_doctor:
        people.add(dossier.treating_doctor)
    return people


class _Readable:
    """The documents of one dossier the engine lets an actor read in a mode, now."""

    def __init__(self, engine: PolicyEngine, patient_id: str, facts: Facts, now: datetime) -> None:
        self.engine, self.patient_id, self.facts, self.now = engine, patient_id, facts, now

    def __call__(self, actor: Actor, mode: Mode) -> list[str]:
        justification = None if mode is Mode.NORMAL else JUSTIFICATION
        permitted = []
        for document_id in self.facts.documents:
            request = AccessRequest(
                actor,
                Action.DOCUMENT_READ,
                self.patient_id,
                mode=mode,
                justification=justification,
                document_ids=(document_id,),
            )
            if self.engine.decide(request, self.facts, self.now).permitted:
                permitted.append(document_id)
        return permitted


def _professionals(
    dossier: Dossier,
    bases: Mapping[str, AccessBasis],
    directory: Mapping[str, Professional],
    readable: _Readable,
) -> list[dict[str, Any]]:
    professions = readable.engine.tables.professions
    listed = []
    for ps, basis in bases.items():
        if basis.blocked:
            continue
        known = directory.get(ps)
        profession = known.profession if known is not None else None
        documents = None
        if profession in professions:
            actor = Actor(ps, ActorType.PROFESSIONAL, profession)
            documents = readable(actor, Mode.NORMAL)
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
                "name": known.name if known is not None else None,
                "profession": profession,
                "basis": names,
                "documents": documents,
                "feeding_opposed": ps in dossier.feeding_oppositions,
            }
        )
    return listed


def _emergency(
    allowed: bool, dossier: Dossier, readable: _Readable, actor: Actor, mode: Mode
) -> dict[str, Any]:
    documents = readable(actor, mode)
    return {
        "allowed": allowed and dossier.status.value == "open",
        "sees_masked": dossier.settings.emergency_sees_masked,
        "documents": documents,
    }
