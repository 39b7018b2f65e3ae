"""Hypothesis strategies for random but well-formed requests and facts."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import strategies as st

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
from engine.sample import CLASSES, NOW, TYPES
from engine.vocabulary import DOSSIERLESS_ACTIONS, Action, ActorType, DossierStatus, Mode

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
        settings=Settings(draw(st.booleans()), draw(st.booleans()), draw(st.booleans())),
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
