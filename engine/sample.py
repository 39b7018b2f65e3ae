"""A seeded, realistic mix of requests and facts, shared by the benchmark and the tests.

Dossiers modelled on real DMP use: a treating doctor, authorised and blocked professionals,
masked and hidden documents, minors with representatives, emergency settings both ways.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

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
from engine.vocabulary import Action, ActorType, DossierStatus, Mode

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)

PROFESSIONS = ("10", "10", "10", "21", "40", "50", "60", "60", "70", "80", "91")
TYPES = (
    "11502-2",
    "11488-4",
    "15507-7",
    "34133-9",
    "60591-5",
    "68599-0",
    "83901-9",
    "57833-6",
    "60593-1",
    "18748-4",
    "18776-5",
    "11369-6",
    "REMB",
    "DOCPAT03",
    "EXPPAT_3",
    "15508-5",
    "80788-3",
    "75496-0",
    "ATTEST-RESID",
    "PROT_ALD",
)
CLASSES = {
    "11502-2": "10",
    "11488-4": "10",
    "15507-7": "10",
    "34133-9": "11",
    "60591-5": "11",
    "68599-0": "11",
    "83901-9": "10",
    "57833-6": "42",
    "60593-1": "43",
    "18748-4": "31",
    "18776-5": "44",
    "11369-6": "11",
    "REMB": "60",
    "DOCPAT03": "90",
    "EXPPAT_3": "90",
    "15508-5": "10",
    "80788-3": "10",
    "75496-0": "10",
    "ATTEST-RESID": "95",
    "PROT_ALD": "44",
}


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
        patient_doc = CLASSES[type_code] == "90"
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
