"""policy/'s official lists, spaces and matrix as the engine reads them (POLICY.md §2, §4, §5)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import policy
from engine.decide import PolicyEngine
from engine.errors import RefusedDocumentTypeError, UnknownDocumentTypeError
from engine.habilitation import DOCTOR_ONLY, provisional_read
from engine.model import AccessRequest, Actor, DocumentDraft, Dossier, Facts
from engine.tables import sources_of
from engine.vocabulary import PATIENT_TYPES, Action, ActorType
from tests.engine.sample import NOW

#: POLICY.md §5, confirmed cells: (profession, type, may read).
CONFIRMED = [
    *[("60", t, True) for t in ("11502-2", "15507-7", "47420-5", "56445-0", "83981-1")],
    *[("60", t, True) for t in ("PROT_ALD", "DOCPAT03", "DOCPAT05", "DOCPAT06")],
    *[("60", t, False) for t in ("75496-0", "68599-0", "83901-9", "68817-6", "89601-9")],
    *[("40", t, False) for t in ("80788-3", "75496-0", "83981-1", "83901-9", "68599-0")],
    ("40", "EXPPAT_3", False),
    ("80", "15508-5", False),
]


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine(policy.load())


def test_the_official_counts_and_their_sources(engine: PolicyEngine) -> None:
    tables = engine.tables
    assert len(tables.document_types) == 107 and tables.refused.keys() == {"E1762"}
    assert len(tables.classes) == 12
    assert len(tables.professions) == 30
    assert sorted(c for c, p in tables.professions.items() if p.deprecated) == [
        "35", "36", "37", "38", "39", "93",
    ]  # fmt: skip
    assert len(tables.specialties) == 110
    assert tables.describe("34112-3").label == "CR hospitalier (séjour)"  # type: ignore[union-attr]
    assert tables.describe("DOCPAT01").label == "Synthèse déposée par le patient"  # type: ignore[union-attr]
    assert tables.describe("EXPPAT_3").label == "Directives anticipées"  # type: ignore[union-attr]
    texts = policy.load().texts
    for name, version in [
        ("document_types.csv", "JDV_J66-TypeCode-DMP, version 20240927120000"),
        ("document_types.csv", "ASS_X16-CorrespondanceType-Classe-DMP, version 20240927120000"),
        ("classes.csv", "JDV_J57-ClassCode-DMP, version 20230922120000"),
        ("professions.csv", "TRE_G15-ProfessionSante, version 20250328120000"),
        ("specialties.csv", "TRE_R38-SpecialiteOrdinale, version 20260928120000"),
    ]:
        assert any(line.startswith(version) for line in sources_of(texts[name])), name


def test_every_profession_times_every_type_is_one_cell(engine: PolicyEngine) -> None:
    tables = engine.tables
    cells = tables.sources
    assert len(cells) == 30 * 107
    assert {p for p, _ in cells} == set(tables.professions)
    assert {t for _, t in cells} == set(tables.document_types)
    by_source = {s: sum(1 for v in cells.values() if v == s) for s in ("ARR23", "provisional")}
    assert by_source == {"ARR23": 128, "provisional": 3082}


def test_the_confirmed_cells_of_policy_md_hold(engine: PolicyEngine) -> None:
    tables = engine.tables
    for profession, type_code, read in CONFIRMED:
        assert tables.sources[(profession, type_code)] == "ARR23", (profession, type_code)
        assert (type_code in tables.readable[profession]) is read, (profession, type_code)
    doctor = tables.readable["10"]
    assert doctor == set(tables.document_types) - {"ATTEST-RESID"}
    assert all(tables.sources[("10", t)] == "ARR23" for t in tables.document_types)


def test_the_provisional_rule_fills_the_rest_by_official_class(engine: PolicyEngine) -> None:
    tables = engine.tables
    for (profession, type_code), source in tables.sources.items():
        kind = tables.document_types[type_code]
        if source == "provisional":
            expected = provisional_read(profession, type_code, kind.class_code)
            assert (type_code in tables.readable[profession]) is expected, (profession, type_code)
        writes = type_code in tables.writable[profession]
        if type_code == "REMB" or type_code in PATIENT_TYPES:
            assert not writes, (profession, type_code)
        elif source == "provisional":
            assert writes is (type_code in tables.readable[profession])
    for code in tables.professions:
        if code != "10":
            assert not DOCTOR_ONLY & tables.readable[code], code
    assert {"PRESC-BIO", "60593-1", "REMB", "11502-2"} <= tables.readable["21"]
    assert "34112-3" not in tables.readable["21"]
    assert {"34112-3", "SYNTH", "74465-6", "74207-2"} <= tables.readable["31"]
    assert "PRESC-BIO" not in tables.readable["31"]


def test_each_type_is_in_one_of_the_nine_spaces(engine: PolicyEngine) -> None:
    tables = engine.tables
    assert [s.label for s in tables.spaces.values()] == [
        "Synthèse", "Traitement", "Analyses", "Imagerie", "Comptes rendus", "Prévention",
        "Certificats", "Données de remboursement", "Espace personnel",
    ]  # fmt: skip
    space = {code: kind.space.code for code, kind in tables.document_types.items()}
    assert {space[c] for c in space} == set(tables.spaces)
    assert space["DOCPAT01"] == "synthesis" and space["34112-3"] == "reports"
    assert space["11502-2"] == "analyses" and space["11369-6"] == "prevention"
    assert space["EXPPAT_1"] == "personal" and space["REMB"] == "reimbursement"
    assert space["PRESC-KINE"] == "treatment" and space["IMG-KOS"] == "imaging"


def _deposit(engine: PolicyEngine, actor: Actor, type_code: str) -> str:
    request = AccessRequest(
        actor, Action.DOCUMENT_ADD, "P1", draft=DocumentDraft("D-new", type_code)
    )
    return engine.decide(request, Facts(Dossier("P1")), NOW).reason.value


def test_patient_types_are_named_by_code_whatever_their_class(engine: PolicyEngine) -> None:
    holder = Actor("P1", ActorType.PATIENT)
    for code in sorted(PATIENT_TYPES):
        assert _deposit(engine, holder, code) == "patient.owner", code
    assert engine.tables.document_types["DOCPAT01"].class_code == "11"
    assert _deposit(engine, holder, "SYNTH") == "document.type_not_allowed"  # class 11 too
    feed = Actor("CNAM", ActorType.SYSTEM)
    assert _deposit(engine, feed, "REMB") == "system.feed"
    assert _deposit(engine, feed, "DOCPAT01") == "document.type_not_allowed"


def test_e1762_is_refused_with_its_reason_and_unknown_codes_name_their_file(
    engine: PolicyEngine,
) -> None:
    holder = Actor("P1", ActorType.PATIENT)
    with pytest.raises(RefusedDocumentTypeError, match="'E1762' is refused: ASTM E1762"):
        _deposit(engine, holder, "E1762")
    with pytest.raises(UnknownDocumentTypeError, match=r"'DLU'.*policy/document_types\.csv"):
        _deposit(engine, holder, "DLU")
    deprecated = Actor("810000000001", ActorType.PROFESSIONAL, profession="93", specialty="SP01")
    engine.check_codes(deprecated)  # known, deprecated: decided by its own row
    assert engine.tables.readable["93"]


@pytest.mark.parametrize(
    "name",
    ["document_types.csv", "classes.csv", "specialties.csv", "spaces.csv", "professions.csv"],
)
def test_policy_version_covers_the_lists(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "policy"
    shutil.copytree(policy.DIRECTORY, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = folder / name
    path.write_text(path.read_text(encoding="utf-8").replace("version", "Version", 1) + "\n")
    assert policy.load(folder).version != policy.load().version
