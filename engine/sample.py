"""A seeded, realistic mix of requests and facts, shared by the benchmark and the tests.

Dossiers modelled on real DMP use: a treating doctor, authorised and blocked professionals,
masked and hidden documents, minors with representatives, emergency settings both ways.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import policy
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
from engine.tables import Tables
from engine.vocabulary import PATIENT_TYPES, Action, ActorType, DossierStatus, Mode

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)

_TABLES = Tables.parse(policy.load().texts)
#: Every profession of policy/ (active and deprecated), doctors and nurses more often.
PROFESSIONS = ("10", "10", "10", "10", "60", "60", "21", *_TABLES.professions)
#: Every type the policy accepts, with its official (ASS_X16) class.
TYPES = tuple(_TABLES.document_types)
CLASSES = {code: kind.class_code for code, kind in _TABLES.document_types.items()}


def ps_id(rng: random.Random) -> str:
    return "8" + "".join(rng.choice("0123456789") for _ in range(11))


def make_dossier(rng: random.Random, index: int, staff: list[Actor]) -> tuple[Dossier, Facts]:
    patient = f"P{index:06d}"
    pool = rng.sample(staff, 8)
    minor = rng.random() < 0.2
    closed = rng.random() < 0.05
    dossier = Dossier(
        patient_id=patient,
        status=DossierStatus.CLOSED if closed else DossierStatus.OPEN,
        closed_at=NOW - timedelta(days=rng.randrange(1, 5000)) if closed else None,
        minor=minor,
        representatives=frozenset({f"R{index:06d}"}) if minor else frozenset(),
        treating_doctor=pool[0].id if pool[0].profession == "10" else None,
        authorized=frozenset(a.id for a in pool[1:5]),
        blocked=frozenset({pool[5].id}),
        feeding_oppositions=frozenset({pool[4].id}) if rng.random() < 0.1 else frozenset(),
        settings=Settings(
            break_glass_allowed=rng.random() < 0.85,
            regulation_allowed=rng.random() < 0.9,
            emergency_sees_masked=rng.random() < 0.2,
        ),
    )
    documents = {}
    for n in range(rng.randrange(5, 25)):
        type_code = rng.choice(TYPES)
        author = rng.choice(pool[:5])
        patient_doc = type_code in PATIENT_TYPES
        hidden = not patient_doc and rng.random() < 0.1
        documents[f"{patient}-D{n}"] = Document(
            document_id=f"{patient}-D{n}",
            type_code=type_code,
            class_code=CLASSES[type_code],
            author_id=patient if patient_doc else author.id,
            author_type=ActorType.PATIENT if patient_doc else ActorType.PROFESSIONAL,
            deposited_at=NOW - timedelta(days=rng.randrange(0, 60)),
            masked=not hidden and rng.random() < 0.15,
            invisible_to_patient=hidden,
            invisible_to_representatives=minor and rng.random() < 0.1,
        )
    return dossier, Facts(dossier, documents, first_access=rng.random() < 0.3)


def make_mix(count: int = 10_000, seed: int = 20261125) -> list[tuple[AccessRequest, Facts]]:
    """``count`` (request, facts) pairs over every actor type and mode, reproducibly."""
    rng = random.Random(seed)
    staff = [
        Actor(
            ps_id(rng),
            ActorType.PROFESSIONAL,
            profession=(p := rng.choice(PROFESSIONS)),
            roles=frozenset({"samu_regulator"})
            if p == "10" and rng.random() < 0.2
            else frozenset(),
            name=f"Dr {i}",
        )
        for i, _ in enumerate(range(400))
    ]
    dossiers = [make_dossier(rng, i, staff) for i in range(300)]
    mix = []
    for _ in range(count):
        dossier, facts = rng.choice(dossiers)
        mix.append((_one_request(rng, dossier, facts, staff), facts))
    return mix


def _one_request(
    rng: random.Random, dossier: Dossier, facts: Facts, staff: list[Actor]
) -> AccessRequest:
    patient = dossier.patient_id
    doc_ids = list(facts.documents)
    doc = rng.choice(doc_ids)
    roll = rng.random()
    if roll < 0.55:  # professionals, normal mode: reads, lists, deposits, flags
        known = [a for a in staff if a.id in dossier.authorized or a.id == dossier.treating_doctor]
        actor = rng.choice(known) if known and rng.random() < 0.8 else rng.choice(staff)
        action = rng.choice(
            [Action.DOCUMENT_READ] * 6
            + [
                Action.DOSSIER_READ,
                Action.DOCUMENT_UPDATE_FLAGS,
                Action.DOCUMENT_ADD,
                Action.DOCUMENT_DELETE,
            ]
        )
        return _document_request(rng, actor, action, patient, doc, Mode.NORMAL, None)
    if roll < 0.65:  # break glass
        actor = rng.choice(staff)
        justification = rng.choice(["Patient inconscient, détresse respiratoire", "", None])
        return _document_request(
            rng, actor, Action.DOCUMENT_READ, patient, doc, Mode.BREAK_GLASS, justification
        )
    if roll < 0.70:  # SAMU regulation
        actor = rng.choice(staff)
        return _document_request(
            rng, actor, Action.DOCUMENT_READ, patient, doc, Mode.REGULATION, None
        )
    if roll < 0.85:  # the holder
        action = rng.choice(
            [
                Action.DOCUMENT_READ,
                Action.DOCUMENT_READ,
                Action.TRACES_READ,
                Action.DOCUMENT_UPDATE_FLAGS,
                Action.DOCUMENT_DELETE,
            ]
        )
        return _document_request(
            rng, Actor(patient, ActorType.PATIENT), action, patient, doc, Mode.NORMAL, None
        )
    if roll < 0.90:  # a representative, registered or not
        rep = next(iter(dossier.representatives), "R-unknown")
        actor = Actor(rep if rng.random() < 0.8 else "R-other", ActorType.REPRESENTATIVE)
        return _document_request(rng, actor, Action.DOCUMENT_READ, patient, doc, Mode.NORMAL, None)
    if roll < 0.94:  # auditors
        action = rng.choice([Action.TRACES_READ, Action.TRACES_EXPORT, Action.DOCUMENT_READ])
        return _document_request(
            rng, Actor("AUD1", ActorType.AUDITOR), action, patient, doc, Mode.NORMAL, None
        )
    if roll < 0.97:  # the reimbursement feed
        type_code = "REMB" if rng.random() < 0.9 else "11502-2"
        return AccessRequest(
            Actor("CNAM-FEED", ActorType.SYSTEM),
            Action.DOCUMENT_ADD,
            patient,
            draft=DocumentDraft(f"{patient}-R{rng.randrange(10**6)}", type_code),
        )
    return AccessRequest(
        Actor("AGENT7", ActorType.AGENT),
        Action.DOSSIER_CREATE,
        patient,
        creation=Creation(consent=rng.random() < 0.9),
    )


def _document_request(
    rng: random.Random,
    actor: Actor,
    action: Action,
    patient: str,
    doc: str,
    mode: Mode,
    justification: str | None,
) -> AccessRequest:
    if action is Action.DOCUMENT_ADD:
        type_code = rng.choice(TYPES)
        return AccessRequest(
            actor,
            action,
            patient,
            mode=mode,
            justification=justification,
            draft=DocumentDraft(
                f"{patient}-N{rng.randrange(10**6)}", type_code, masked=rng.random() < 0.2
            ),
        )
    if action is Action.DOCUMENT_UPDATE_FLAGS:
        return AccessRequest(
            actor,
            action,
            patient,
            mode=mode,
            document_ids=(doc,),
            flags=FlagChange(masked=rng.random() < 0.5),
        )
    ids = (doc,) if action in (Action.DOCUMENT_READ, Action.DOCUMENT_DELETE) else ()
    return AccessRequest(
        actor, action, patient, mode=mode, justification=justification, document_ids=ids
    )
