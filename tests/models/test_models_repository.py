"""DossierRepository: engine facts per actor type, every mutation and its idempotence, the
outbox and the access review, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from engine.model import Document, DocumentDraft, Dossier, DossierSettings, FlagChange, Obligation
from engine.vocabulary import (
    ActorType,
    DocumentStatus,
    DossierStatus,
    ObligationType,
    Recipient,
)
from models.database import Database, UnitOfWork
from models.errors import ConflictError, StoreError
from models.record import AccessBasis
from tests.models.conftest import AUDITOR, DOCTOR, NURSE, PARENT, PATIENT, T0, later, spy_driver

PID = "P1"


@pytest.fixture
def dossier(db: Database) -> Database:
    """``P1``, a minor with representative ``R1``, two documents (one by the doctor)."""
    with db.unit_of_work() as unit:
        repo = unit.dossiers
        repo.create(PID, minor=True, representatives=["R1"], settings=DossierSettings(), now=T0)
        repo.add_document(PID, DocumentDraft("D1", "11502-2"), "10", DOCTOR, later(1))
        repo.add_document(
            PID, DocumentDraft("D2", "DOCPAT01", masked=True), "90", PATIENT, later(2)
        )
    return db


def test_create_and_get(uow: UnitOfWork) -> None:
    repo = uow.dossiers
    assert repo.get(PID) is None
    repo.create(
        PID,
        minor=False,
        representatives=[],
        settings=DossierSettings(break_glass_allowed=False, emergency_sees_masked=True),
        now=T0,
    )
    assert repo.get(PID) == Dossier(
        PID, settings=DossierSettings(break_glass_allowed=False, emergency_sees_masked=True)
    )
    with pytest.raises(ConflictError, match="exists"):
        repo.create(PID, minor=False, representatives=[], settings=DossierSettings(), now=T0)


def test_facts_of_a_missing_dossier(uow: UnitOfWork) -> None:
    facts = uow.dossiers.facts("nobody", DOCTOR, None)
    assert facts.dossier is None
    assert facts.documents == {}
    assert facts.first_access is False


@pytest.mark.parametrize("actor", [PATIENT, PARENT, AUDITOR], ids=lambda a: a.type.value)
def test_facts_for_non_professionals_never_flag_a_first_access(
    dossier: Database, actor: object
) -> None:
    with dossier.read_only() as unit:
        facts = unit.dossiers.facts(PID, actor, None)  # type: ignore[arg-type]
    assert facts.dossier is not None
    assert facts.dossier.representatives == frozenset({"R1"})
    assert facts.dossier.minor is True
    assert set(facts.documents) == {"D1", "D2"}
    assert facts.first_access is False


def test_facts_for_a_professional_and_first_access(
    dossier: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = spy_driver(monkeypatch, "queries")
    with dossier.unit_of_work() as unit:
        repo = unit.dossiers
        facts = repo.facts(PID, DOCTOR, ["D1", "nope"])
        assert [len(s) for s in sent] == [3]  # three statements, one round trip
        assert facts.first_access is True
        assert set(facts.documents) == {"D1"}
        assert repo.record_access(PID, DOCTOR.id, later(3)) is True
        assert repo.record_access(PID, DOCTOR.id, later(4)) is False
        assert repo.facts(PID, DOCTOR, ()).first_access is False
        assert repo.facts(PID, DOCTOR, ()).documents == {}
        assert repo.facts(PID, NURSE, None).first_access is True


def test_documents_round_trip_with_aware_utc_times(dossier: Database) -> None:
    with dossier.read_only() as unit:
        documents = unit.dossiers.documents(PID)
    assert list(documents) == ["D1", "D2"]
    assert documents["D1"] == Document(
        "D1", "11502-2", "10", DOCTOR.id, ActorType.PROFESSIONAL, later(1)
    )
    assert documents["D2"].masked is True
    assert documents["D2"].author_type is ActorType.PATIENT
    assert documents["D1"].deposited_at.tzinfo is not None
    assert documents["D1"].deposited_at.utcoffset() == timedelta(0)


def test_times_in_another_zone_are_stored_as_the_same_instant(uow: UnitOfWork) -> None:
    paris = timezone(timedelta(hours=2))
    uow.dossiers.create(PID, minor=False, representatives=[], settings=DossierSettings(), now=T0)
    uow.dossiers.close(PID, T0.astimezone(paris))
    closed = uow.dossiers.get(PID)
    assert closed is not None
    assert closed.closed_at == T0
    assert closed.closed_at.utcoffset() == timedelta(0)


def test_naive_times_are_refused(db: Database) -> None:
    with pytest.raises(StoreError, match="naive"), db.unit_of_work() as unit:
        unit.dossiers.create(
            PID,
            minor=False,
            representatives=[],
            settings=DossierSettings(),
            now=T0.replace(tzinfo=None),
        )


def test_close_and_reopen_are_idempotent(dossier: Database) -> None:
    with dossier.unit_of_work() as unit:
        repo = unit.dossiers
        assert repo.close(PID, later(5)) is True
        assert repo.close(PID, later(6)) is False
        closed = repo.get(PID)
        assert closed is not None
        assert (closed.status, closed.closed_at) == (DossierStatus.CLOSED, later(5))
        assert repo.reopen(PID, later(7)) is True
        assert repo.reopen(PID, later(8)) is False
        reopened = repo.get(PID)
        assert reopened is not None
        assert (reopened.status, reopened.closed_at) == (DossierStatus.OPEN, None)
        with pytest.raises(ConflictError, match="does not exist"):
            repo.close("nobody", later(9))


def test_settings_and_treating_doctor(dossier: Database) -> None:
    with dossier.unit_of_work() as unit:
        repo = unit.dossiers
        assert repo.update_settings(PID, {"break_glass_allowed": False}, later(1)) is True
        assert repo.update_settings(PID, {"break_glass_allowed": False}, later(2)) is False
        assert repo.update_settings(PID, {}, later(2)) is False
        with pytest.raises(ValueError, match="unknown settings"):
            repo.update_settings(PID, {"allow_everything": True}, later(3))
        assert repo.set_treating_doctor(PID, DOCTOR.id, later(4)) is True
        assert repo.set_treating_doctor(PID, DOCTOR.id, later(5)) is False
        got = repo.get(PID)
        assert got is not None
        assert got.settings == DossierSettings(break_glass_allowed=False)
        assert got.treating_doctor == DOCTOR.id
        assert repo.set_treating_doctor(PID, None, later(6)) is True
        assert repo.set_treating_doctor(PID, None, later(7)) is False
        assert repo.get(PID).treating_doctor is None  # type: ignore[union-attr]


def test_id_sets_add_and_remove_idempotently(dossier: Database) -> None:
    ps = NURSE.id
    with dossier.unit_of_work() as unit:
        repo = unit.dossiers
        assert repo.grant(PID, ps, True, later(1)) is True
        assert repo.grant(PID, ps, False, later(2)) is False
        assert repo.block(PID, ps, later(3)) is True
        assert repo.block(PID, ps, later(3)) is False
        assert repo.add_opposition(PID, ps, "conflit", later(4)) is True
        assert repo.add_opposition(PID, ps, "autre motif", later(5)) is False
        assert repo.add_representative(PID, "R2", later(6)) is True
        assert repo.add_representative(PID, "R2", later(6)) is False
        got = repo.get(PID)
        assert got is not None
        assert got.authorized == got.blocked == got.feeding_oppositions == frozenset({ps})
        assert got.representatives == frozenset({"R1", "R2"})
        assert repo.professionals_with_access(PID)[ps] == AccessBasis(
            authorized=True, self_declared=True, blocked=True
        )
        assert repo.revoke(PID, ps) is True
        assert repo.revoke(PID, ps) is False
        assert repo.unblock(PID, ps) is True
        assert repo.unblock(PID, ps) is False
        assert repo.remove_opposition(PID, ps) is True
        assert repo.remove_opposition(PID, ps) is False
        assert repo.remove_representative(PID, "R2") is True
        assert repo.remove_representative(PID, "R2") is False
        assert repo.get(PID) == Dossier(PID, minor=True, representatives=frozenset({"R1"}))


def test_grant_on_a_missing_dossier_is_a_conflict(db: Database) -> None:
    with pytest.raises(ConflictError), db.unit_of_work() as unit:
        unit.dossiers.grant("nobody", DOCTOR.id, False, T0)


def test_document_flags_and_deletion(dossier: Database) -> None:
    with dossier.unit_of_work() as unit:
        repo = unit.dossiers
        draft = DocumentDraft("D3", "11502-2", invisible_to_representatives=True)
        added = repo.add_document(PID, draft, "10", DOCTOR, later(10))
        assert added.invisible_to_representatives is True
        with pytest.raises(ConflictError, match="already exists"):
            repo.add_document(PID, draft, "10", DOCTOR, later(11))
        masked = repo.update_flags(PID, "D3", FlagChange(masked=True))
        assert (masked.masked, masked.invisible_to_representatives) == (True, True)
        assert masked.representatives_flag_cleared is False
        cleared = repo.update_flags(PID, "D3", FlagChange(invisible_to_representatives=False))
        assert cleared.invisible_to_representatives is False
        assert cleared.representatives_flag_cleared is True
        again = repo.update_flags(PID, "D3", FlagChange(invisible_to_patient=True, masked=False))
        assert (again.invisible_to_patient, again.masked) == (True, False)
        assert again.representatives_flag_cleared is True
        assert repo.update_flags(PID, "D3", FlagChange()) == again
        assert repo.delete_document(PID, "D3") is True
        assert repo.delete_document(PID, "D3") is False
        assert repo.documents(PID, ["D3"])["D3"].status is DocumentStatus.DELETED
        with pytest.raises(ConflictError):
            repo.delete_document(PID, "nope")
        with pytest.raises(ConflictError):
            repo.update_flags(PID, "nope", FlagChange(masked=True))


def test_professionals_with_access(dossier: Database) -> None:
    with dossier.unit_of_work() as unit:
        repo = unit.dossiers
        repo.grant(PID, NURSE.id, False, later(1))
        repo.set_treating_doctor(PID, DOCTOR.id, later(2))
        repo.add_document(PID, DocumentDraft("D4", "11502-2"), "10", NURSE, later(3))
        repo.add_document(PID, DocumentDraft("D5", "11502-2"), "10", NURSE, later(4))
        repo.delete_document(PID, "D5")
        assert repo.professionals_with_access(PID) == {
            DOCTOR.id: AccessBasis(treating_doctor=True, authored=("D1",)),
            NURSE.id: AccessBasis(authorized=True, authored=("D4",)),
        }


def test_notifications_outbox_newest_first(dossier: Database) -> None:
    emergency = Obligation(
        ObligationType.EMERGENCY_ACCESS, (Recipient.PATIENT, Recipient.TREATING_DOCTOR)
    )
    first = Obligation(ObligationType.FIRST_ACCESS, (Recipient.PATIENT,))
    with dossier.unit_of_work() as unit:
        repo = unit.dossiers
        repo.add_notifications(PID, [first, emergency], 7, "D1", later(1))
        repo.add_notifications(PID, [], 8, None, later(2))
        repo.add_notifications(PID, [first], 9, None, later(3))
    with dossier.read_only() as unit:
        listed = unit.dossiers.notifications(PID)
        page = unit.dossiers.notifications(PID, before_id=listed[0].id, limit=1)
    assert [(n.type, n.entry_seq) for n in listed] == [
        ("notify.first_access", 9),
        ("notify.emergency_access", 7),
        ("notify.first_access", 7),
    ]
    assert listed[1].recipients == ("patient", "treating_doctor")
    assert listed[1].document_id == "D1"
    assert listed[1].created_at == later(1)
    assert {n.status for n in listed} == {"pending"}
    assert [n.id for n in page] == [listed[1].id]


def test_facts_are_what_was_written_with_every_column_converted(db: Database) -> None:
    """The one dossier read (models/dossier_reads.py, on the driver) gives back exactly the
    state the test wrote, every column converted as the SQLAlchemy columns do (aware UTC
    times, real booleans), on both backends; ``get`` and ``documents`` are the same read."""
    from engine.model import Facts

    closed_at = T0 + timedelta(days=1)
    with db.unit_of_work() as unit:
        repo = unit.dossiers
        glass = DossierSettings(break_glass_allowed=False, emergency_sees_masked=True)
        repo.create("P1", minor=True, representatives=["R1"], settings=glass, now=T0)
        repo.grant("P1", DOCTOR.id, False, T0)
        repo.block("P1", "810000000099", T0)
        repo.add_opposition("P1", NURSE.id, "conflit", T0)
        repo.set_treating_doctor("P1", DOCTOR.id, T0)
        repo.close("P1", closed_at)
        repo.add_document("P1", DocumentDraft("D1", "11502-2", masked=True), "10", DOCTOR, T0)
        draft = DocumentDraft("D2", "DOCPAT01", invisible_to_representatives=True)
        repo.add_document("P1", draft, "90", PATIENT, later(1))
        repo.update_flags("P1", "D2", FlagChange(invisible_to_representatives=False))
        repo.update_flags("P1", "D2", FlagChange(invisible_to_patient=True))
        repo.delete_document("P1", "D2")
        repo.record_access("P1", DOCTOR.id, T0)
    dossier = Dossier(
        "P1",
        status=DossierStatus.CLOSED,
        closed_at=closed_at,
        minor=True,
        representatives=frozenset({"R1"}),
        treating_doctor=DOCTOR.id,
        authorized=frozenset({DOCTOR.id}),
        blocked=frozenset({"810000000099"}),
        feeding_oppositions=frozenset({NURSE.id}),
        settings=DossierSettings(break_glass_allowed=False, emergency_sees_masked=True),
    )
    d1 = Document("D1", "11502-2", "10", DOCTOR.id, ActorType.PROFESSIONAL, T0, masked=True)
    d2 = Document(
        "D2",
        "DOCPAT01",
        "90",
        PATIENT.id,
        ActorType.PATIENT,
        later(1),
        status=DocumentStatus.DELETED,
        invisible_to_patient=True,
        representatives_flag_cleared=True,
    )
    wanted = {None: ["D1", "D2"], (): [], ("D1",): ["D1"], ("D2", "nope"): ["D2"]}
    first_access = {DOCTOR: False, NURSE: True, PATIENT: False, PARENT: False}
    with db.read_only() as unit:
        repo = unit.dossiers
        assert repo.get("P1") == dossier
        for actor in (DOCTOR, NURSE, PATIENT, PARENT):
            for ids, listed in wanted.items():
                documents = {d.document_id: d for d in (d1, d2) if d.document_id in listed}
                facts = repo.facts("P1", actor, ids)
                assert facts == Facts(dossier, documents, first_access[actor])
                assert list(facts.documents) == listed  # in deposit order
                assert repo.documents("P1", ids) == documents
        facts = repo.facts("P1", DOCTOR, None)
        assert facts.dossier is not None and facts.dossier.closed_at is not None
        assert facts.dossier.closed_at.utcoffset() == timedelta(0)
        dossier_flags = (facts.dossier.minor, *_settings_flags(facts.dossier.settings))
        assert all(type(flag) is bool for flag in dossier_flags)
        for document in facts.documents.values():
            assert document.deposited_at.utcoffset() == timedelta(0)
            flags = (
                document.masked,
                document.invisible_to_patient,
                document.invisible_to_representatives,
                document.representatives_flag_cleared,
            )
            assert all(type(flag) is bool for flag in flags)
        assert repo.facts("P9", DOCTOR, None) == Facts(None)
        assert repo.get("P9") is None and repo.documents("P9") == {}


def _settings_flags(settings: DossierSettings) -> tuple[bool, ...]:
    return (
        settings.break_glass_allowed,
        settings.regulation_allowed,
        settings.emergency_sees_masked,
    )


def test_facts_of_a_batch_are_each_requests_facts_in_one_round_trip(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group commit reads the facts of all its calls at once (one read per dossier); each
    call gets exactly what its own ``facts`` call would have returned."""
    with db.unit_of_work() as unit:
        repo = unit.dossiers
        for pid in ("P1", "P2"):
            repo.create(
                pid, minor=pid == "P2", representatives=["R1"], settings=DossierSettings(), now=T0
            )
            repo.add_document(pid, DocumentDraft("D1", "11502-2", masked=True), "10", DOCTOR, T0)
            repo.add_document(pid, DocumentDraft("D2", "DOCPAT01"), "90", PATIENT, later(1))
        repo.grant("P1", DOCTOR.id, False, T0)
        repo.block("P2", NURSE.id, T0)
        repo.record_access("P1", DOCTOR.id, T0)
    requests = [
        (pid, actor, ids)
        for pid in ("P1", "P2", "P9")
        for actor in (DOCTOR, NURSE, PATIENT, PARENT)
        for ids in (None, (), ("D2",), ("D2", "D1", "nope"))
    ]
    with db.read_only() as unit:
        one_by_one = [unit.dossiers.facts(*request) for request in requests]
        sent = spy_driver(monkeypatch, "queries")
        together = unit.dossiers.facts_many(requests)
    assert together == one_by_one
    assert [len(s) for s in sent] == [3 * 3]  # 3 dossiers (one absent) x 3 statements, 1 trip
    assert [list(f.documents) for f in together[:4]] == [["D1", "D2"], [], ["D2"], ["D1", "D2"]]
    assert together[0].first_access is False and together[4].first_access is True
