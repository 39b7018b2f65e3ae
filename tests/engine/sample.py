"""The engine's test inputs, in one place: the tests and the benchmarks build requests and facts
from here.

- the seeded mix (:func:`make_mix`): a realistic, reproducible mix of requests and facts over
  every profession and type of policy/, for the benchmarks and the thread test; dossiers
  modelled on real DMP use (a treating doctor, authorised and blocked professionals, masked and
  hidden documents, minors with representatives, emergency settings both ways);
- the scenario table (:func:`request_and_facts`): tests/engine/scenarios.json rows, POLICY.md
  as a table, turned into requests and facts at the table's own time :data:`TABLE_NOW`;
- Hypothesis strategies (:func:`requests`, :func:`facts`) for random but well-formed requests
  and facts, for the property tests.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

import policy
from engine.model import (
    AccessRequest,
    Actor,
    Creation,
    Document,
    DocumentDraft,
    Dossier,
    DossierSettings,
    Facts,
    FlagChange,
)
from engine.tables import Tables
from engine.vocabulary import (
    DOSSIERLESS_ACTIONS,
    PATIENT_TYPES,
    Action,
    ActorType,
    DossierStatus,
    Mode,
)

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
        settings=DossierSettings(
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


# -- the scenario table ------------------------------------------------------------------

TABLE = json.loads(Path(__file__).with_name("scenarios.json").read_text(encoding="utf-8"))
TABLE_NOW = datetime.fromisoformat(TABLE["now"])
CLASS_OF = {**CLASSES, "ATTEST-RESID": "95"}  # the policy's type -> class table, as in the mix
#: A row of the table: a stranger's break-glass read of the adult's biology result (add a
#: ``justification`` or ``justification_length``).
BREAK_GLASS_READ = {
    "dossier": "adult",
    "documents": ["bio"],
    "actor": "stranger",
    "action": "document.read",
    "document": "bio",
    "mode": "break_glass",
}


def _table_actor(key: str) -> Actor:
    return Actor.from_claims(TABLE["actors"][key])


def _table_actor_id(key: str) -> str:
    return TABLE["actors"][key]["sub"] if key in TABLE["actors"] else key


def _table_ids(keys: list[str]) -> frozenset[str]:
    return frozenset(_table_actor_id(k) for k in keys)


def _table_document(key: str) -> Document:
    spec = TABLE["documents"][key]
    author = TABLE["actors"][spec["author"]]
    return Document(
        document_id=key,
        type_code=spec["type_code"],
        class_code=CLASS_OF[spec["type_code"]],
        author_id=author["sub"],
        author_type=ActorType(author["actor_type"]),
        deposited_at=TABLE_NOW - timedelta(days=spec["days_ago"]),
        status=spec.get("status", "active"),
        masked=spec.get("masked", False),
        invisible_to_patient=spec.get("invisible_to_patient", False),
        invisible_to_representatives=spec.get("invisible_to_representatives", False),
        representatives_flag_cleared=spec.get("representatives_flag_cleared", False),
    )


def _table_dossier(row: dict[str, Any]) -> Dossier | None:
    if row.get("dossier") is None:
        return None
    spec = {**TABLE["dossiers"][row["dossier"]], **row.get("with", {})}
    closed_days = spec.pop("closed_days_ago", None)
    settings = DossierSettings(**spec.pop("settings", {}))
    for field in ("representatives", "authorized", "blocked", "feeding_oppositions"):
        spec[field] = _table_ids(spec.get(field, []))
    if spec.get("treating_doctor"):
        spec["treating_doctor"] = _table_actor_id(spec["treating_doctor"])
    built = Dossier(
        **spec,
        settings=settings,
        closed_at=TABLE_NOW - timedelta(days=closed_days) if closed_days else None,
    )
    if built.status is DossierStatus.CLOSED:
        assert built.closed_at is not None
    return built


def request_and_facts(row: dict[str, Any]) -> tuple[AccessRequest, Facts]:
    built = _table_dossier(row)
    patient = row.get("patient", built.patient_id if built else "P1")
    justification = row.get("justification")
    if "justification_length" in row:
        justification = "x" * row["justification_length"]
    request = AccessRequest(
        actor=_table_actor(row["actor"]),
        action=row["action"],
        patient_id=patient,
        mode=row.get("mode", "normal"),
        justification=justification,
        document_ids=(row["document"],) if "document" in row else (),
        target_id=_table_actor_id(row["target"]) if "target" in row else None,
        draft=DocumentDraft(**row["draft"]) if "draft" in row else None,
        flags=FlagChange(**row["flags"]) if "flags" in row else None,
        creation=replace(Creation(**row["creation"])) if "creation" in row else None,
    )
    documents = {key: _table_document(key) for key in row.get("documents", [])}
    return request, Facts(built, documents, first_access=row.get("first_access", False))


# -- Hypothesis strategies ----------------------------------------------------------------

PATIENT = "P1"
PS_IDS = [f"8997000000{n:02d}" for n in range(8)]
PEOPLE = [*PS_IDS, PATIENT, "R1", "R2", "AG", "SYS", "AUD"]

professionals = st.builds(
    Actor,
    id=st.sampled_from(PS_IDS),
    type=st.just(ActorType.PROFESSIONAL),
    profession=st.sampled_from(["10", "21", "40", "50", "60", "70", "80", "91"]),
    roles=st.sampled_from([frozenset(), frozenset({"samu_regulator"})]),
)
others = st.one_of(
    st.builds(Actor, id=st.sampled_from([PATIENT, "P2"]), type=st.just(ActorType.PATIENT)),
    st.builds(Actor, id=st.sampled_from(["R1", "R2"]), type=st.just(ActorType.REPRESENTATIVE)),
    st.builds(Actor, id=st.just("AG"), type=st.just(ActorType.AGENT)),
    st.builds(Actor, id=st.just("SYS"), type=st.just(ActorType.SYSTEM)),
    st.builds(Actor, id=st.just("AUD"), type=st.just(ActorType.AUDITOR)),
)
actors = st.one_of(professionals, professionals, others)
id_sets = st.frozensets(st.sampled_from(PS_IDS), max_size=4)


@st.composite
def documents(draw: st.DrawFn, index: int) -> Document:
    type_code = draw(st.sampled_from(TYPES))
    author = draw(st.sampled_from(PEOPLE))
    author_type = {
        PATIENT: ActorType.PATIENT,
        "R1": ActorType.REPRESENTATIVE,
        "R2": ActorType.REPRESENTATIVE,
        "AG": ActorType.AGENT,
        "SYS": ActorType.SYSTEM,
        "AUD": ActorType.AUDITOR,
    }.get(author, ActorType.PROFESSIONAL)
    return Document(
        document_id=f"D{index}",
        type_code=type_code,
        class_code=CLASSES[type_code],
        author_id=author,
        author_type=author_type,
        deposited_at=NOW - timedelta(days=draw(st.integers(0, 60))),
        status=draw(st.sampled_from(["active", "active", "active", "deleted"])),
        masked=draw(st.booleans()),
        invisible_to_patient=draw(st.booleans()),
        invisible_to_representatives=draw(st.booleans()),
        representatives_flag_cleared=draw(st.booleans()),
    )


@st.composite
def dossiers(draw: st.DrawFn) -> Dossier:
    closed = draw(st.booleans()) and draw(st.booleans())
    return Dossier(
        patient_id=PATIENT,
        status=DossierStatus.CLOSED if closed else DossierStatus.OPEN,
        closed_at=NOW - timedelta(days=draw(st.integers(1, 4000))) if closed else None,
        minor=draw(st.booleans()),
        representatives=draw(st.frozensets(st.sampled_from(["R1", "R2"]))),
        treating_doctor=draw(st.none() | st.sampled_from(PS_IDS)),
        authorized=draw(id_sets),
        blocked=draw(id_sets),
        feeding_oppositions=draw(id_sets),
        settings=DossierSettings(draw(st.booleans()), draw(st.booleans()), draw(st.booleans())),
    )


@st.composite
def facts(draw: st.DrawFn) -> Facts:
    dossier = draw(st.none() | dossiers()) if draw(st.integers(0, 9)) == 0 else draw(dossiers())
    count = draw(st.integers(0, 6))
    docs = {f"D{i}": draw(documents(i)) for i in range(count)}
    return Facts(dossier, docs, first_access=draw(st.booleans()))


flag_changes = st.builds(
    FlagChange,
    masked=st.none() | st.booleans(),
    invisible_to_patient=st.none() | st.booleans(),
    invisible_to_representatives=st.none() | st.booleans(),
)


@st.composite
def requests(draw: st.DrawFn, action: Action | None = None) -> AccessRequest:
    chosen = action or draw(st.sampled_from([a for a in Action if a not in DOSSIERLESS_ACTIONS]))
    mode = draw(st.sampled_from([Mode.NORMAL, Mode.NORMAL, Mode.BREAK_GLASS, Mode.REGULATION]))
    justification = draw(st.none() | st.sampled_from(["", "  ", "Urgence vitale", "x" * 1001]))
    return AccessRequest(
        actor=draw(actors),
        action=chosen,
        patient_id=PATIENT,
        mode=mode,
        justification=justification,
        document_ids=(f"D{draw(st.integers(0, 7))}",),
        target_id=draw(st.sampled_from(PEOPLE)),
        draft=DocumentDraft(
            f"D{draw(st.integers(0, 9))}",
            draw(st.sampled_from(TYPES)),
            masked=draw(st.booleans()),
            invisible_to_patient=draw(st.booleans()),
            invisible_to_representatives=draw(st.booleans()),
        ),
        flags=draw(flag_changes),
        creation=Creation(
            consent=draw(st.booleans()),
            minor=draw(st.booleans()),
            representatives=draw(st.frozensets(st.sampled_from(["R1", "R2"]))),
        ),
    )
