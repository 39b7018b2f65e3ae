"""``engine.visibility.hidden_documents`` is the policy's own answer: on an open dossier, a
document is hidden from a reader exactly when the document list (each document's
``document.read`` decision) omits it for a visibility reason; closing the dossier or deleting
the document changes nothing of what is hidden."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.decide import PolicyEngine
from engine.model import AccessRequest, Document, Dossier, Facts
from engine.visibility import VISIBILITY_REASONS, hidden_documents
from engine.vocabulary import Action, ActorType, DocumentStatus, DossierStatus
from tests.engine.sample import NOW, actors, documents, dossiers


@st.composite
def open_dossier_with_documents(draw: st.DrawFn) -> tuple[Dossier, dict[str, Document]]:
    dossier = replace(draw(dossiers()), status=DossierStatus.OPEN, closed_at=None)
    count = draw(st.integers(0, 6))
    docs = {
        f"D{i}": replace(draw(documents(i)), status=DocumentStatus.ACTIVE) for i in range(count)
    }
    return dossier, docs


@settings(max_examples=400, deadline=None)
@given(open_dossier_with_documents(), actors)
def test_hidden_is_what_the_list_omits_for_visibility(
    engine: PolicyEngine, case: tuple[Dossier, dict[str, Document]], reader: object
) -> None:
    dossier, docs = case
    assert reader is not None
    listing = engine.decide_documents(
        AccessRequest(reader, Action.DOCUMENT_LIST, dossier.patient_id),  # type: ignore[arg-type]
        Facts(dossier, docs),
        NOW,
    )
    omitted = {d.document_id for d in listing.documents if d.decision.reason in VISIBILITY_REASONS}
    assert hidden_documents(engine, reader, dossier, docs, NOW) == omitted  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(open_dossier_with_documents(), actors, st.data())
def test_closing_or_deleting_hides_nothing_more_nor_less(
    engine: PolicyEngine,
    case: tuple[Dossier, dict[str, Document]],
    reader: object,
    data: st.DataObject,
) -> None:
    dossier, docs = case
    before = hidden_documents(engine, reader, dossier, docs, NOW)  # type: ignore[arg-type]
    closed = replace(dossier, status=DossierStatus.CLOSED, closed_at=NOW)
    deleted = {
        i: replace(d, status=DocumentStatus.DELETED) if data.draw(st.booleans()) else d
        for i, d in docs.items()
    }
    assert hidden_documents(engine, reader, closed, deleted, NOW) == before  # type: ignore[arg-type]


def test_who_is_kept_from_what(engine: PolicyEngine) -> None:
    """The two secrets of POLICY.md §4, read by the holder, a representative, the treating
    doctor and an auditor."""
    from engine.model import Actor

    dossier = Dossier(
        "M1", minor=True, representatives=frozenset({"R1"}), treating_doctor="810000000001"
    )
    base = Document("x", "11488-4", "10", "810000000001", ActorType.PROFESSIONAL, NOW)
    docs = {
        "secret": replace(base, document_id="secret", invisible_to_representatives=True),
        "result": replace(base, document_id="result", invisible_to_patient=True),
        "masked": replace(base, document_id="masked", masked=True),
        "plain": replace(base, document_id="plain"),
    }
    holder = Actor("M1", ActorType.PATIENT)
    rep = Actor("R1", ActorType.REPRESENTATIVE)
    doctor = Actor("810000000001", ActorType.PROFESSIONAL, "10")
    auditor = Actor("AUD", ActorType.AUDITOR)
    assert hidden_documents(engine, holder, dossier, docs, NOW) == {"result"}
    assert hidden_documents(engine, rep, dossier, docs, NOW) == {"result", "secret"}
    assert hidden_documents(engine, doctor, dossier, docs, NOW) == frozenset()
    assert hidden_documents(engine, auditor, dossier, docs, NOW) == frozenset()
