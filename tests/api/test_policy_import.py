"""``vigie policy import``: the ANS's FHIR R4 files in, policy/'s official lists and matrix out."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import policy
from api.cli import main
from api.policy_import import OFFICIAL_FILES, apply_import, plan_import
from api.terminology import TerminologyError
from engine.decide import PolicyEngine
from engine.errors import PolicyLoadError
from tests.api.fhir_fixture import CLASSES, CURRENT, LOINC, TYPES, write_distribution


def copy_policy(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(policy.DIRECTORY, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in policy.FILES}


def test_regenerating_from_todays_lists_changes_nothing(tmp_path: Path) -> None:
    folder = copy_policy(tmp_path)
    before = snapshot(folder)
    plan = plan_import(CURRENT, folder)
    assert plan.changed == ()
    assert plan.texts == {}
    assert plan.report[-1].startswith("habilitation.csv: 3210 → 3210 cells (ARR23 128,")
    apply_import(plan, folder)
    assert snapshot(folder) == before
    # and from scratch: the same bytes come back into official files holding only a header
    for name in OFFICIAL_FILES[:-1]:
        header = next(line for line in (folder / name).read_text().splitlines() if line[0] != "#")
        (folder / name).write_text(header + "\n")
    apply_import(plan_import(CURRENT, folder), folder)
    assert snapshot(folder) == before


def test_a_small_distribution_rewrites_the_lists_and_the_matrix(tmp_path: Path) -> None:
    folder = copy_policy(tmp_path)
    plan = plan_import(write_distribution(tmp_path / "fhir"), folder)
    assert set(plan.changed) == set(OFFICIAL_FILES)
    apply_import(plan, folder)
    engine = PolicyEngine(policy.load(folder))
    tables = engine.tables
    assert list(tables.document_types) == [t[0] for t in TYPES]
    assert tables.document_types["DOCPAT01"].class_code == "11"
    assert tables.describe("34112-3").label == "CR hospitalier (séjour)"  # type: ignore[union-attr]
    assert list(tables.professions) == ["10", "21", "60"]
    assert tables.specialties["SP01"].deprecated
    assert len(tables.sources) == 3 * len(TYPES)
    # confirmed cells kept (60 x 68599-0 denied, ARR23), the rest by the provisional rule
    assert tables.sources[("60", "68599-0")] == "ARR23"
    assert "68599-0" not in tables.readable["60"]
    assert tables.sources[("60", "34112-3")] == "provisional"
    assert "34112-3" in tables.readable["60"] and "34112-3" not in tables.readable["21"]
    assert "57833-6" in tables.writable["21"]
    assert "REMB" in tables.readable["10"] and "REMB" not in tables.writable["10"]
    text = (folder / "document_types.csv").read_text(encoding="utf-8")
    assert text.startswith("# source: JDV_J66-TypeCode-DMP, version 20270101120000, urn:oid:")


def test_the_report_names_what_was_added_removed_reclassified_and_deprecated(
    tmp_path: Path,
) -> None:
    folder = copy_policy(tmp_path)
    apply_import(plan_import(write_distribution(tmp_path / "v1"), folder), folder)
    types = [t for t in TYPES if t[0] != "57833-6"] + [("11111-1", LOINC, "Nouveau CR", "10")]
    types = [("DOCPAT01", *t[1:3], "10") if t[0] == "DOCPAT01" else t for t in types]
    types = [(t[0], t[1], "CR d'hospitalisation", t[3]) if t[0] == "34112-3" else t for t in types]
    v2 = write_distribution(
        tmp_path / "v2",
        types=types,
        professions=[("10", "Médecin", False), ("60", "Infirmier", True), ("31", "X", False)],
        version="20270601120000",
    )
    plan = plan_import(v2, folder)
    report = "\n".join(plan.report)
    assert "document_types.csv: 7 → 7 codes" in report
    assert "  from JDV_J66-TypeCode-DMP, version 20270601120000" in report
    assert "  added (1): 11111-1" in report
    assert "  removed (1): 57833-6" in report
    assert "  reclassified (1): DOCPAT01 11→10" in report
    assert "  relabelled (1): 34112-3 CR hospitalier (séjour)→CR d'hospitalisation" in report
    assert "professions.csv: 3 → 3 codes" in report
    assert "  added (1): 31" in report and "  removed (1): 21" in report
    assert "  deprecated (1): 60" in report
    assert "habilitation.csv: 21 → 21 cells" in report
    apply_import(plan, folder)
    tables = PolicyEngine(policy.load(folder)).tables
    assert tables.sources[("60", "11111-1")] == "provisional"  # a deprecated row, still decided
    assert tables.sources[("10", "11111-1")] == "ARR23"
    assert "11111-1" in tables.writable["10"]


@pytest.mark.parametrize("shape", ["expansion", "bundle"])
def test_expansions_and_bundles_read_the_same(tmp_path: Path, shape: str) -> None:
    plain = plan_import(write_distribution(tmp_path / "plain"), copy_policy(tmp_path / "a"))
    other = write_distribution(tmp_path / shape, **{shape: True})  # type: ignore[arg-type]
    assert plan_import(other, copy_policy(tmp_path / "b")).texts == plain.texts


def test_unreadable_distributions_are_named(tmp_path: Path) -> None:
    folder = copy_policy(tmp_path)
    fhir = write_distribution(tmp_path / "fhir")
    (fhir / "ValueSet-JDV-J57.json").unlink()
    with pytest.raises(TerminologyError, match="no ValueSet J57"):
        plan_import(fhir, folder)
    odd = [("X1", "http://example.org/other", "Autre", "10")]
    with pytest.raises(TerminologyError, match=re.escape("system 'http://example.org/other'")):
        plan_import(write_distribution(tmp_path / "odd", types=odd), folder)


def test_a_class_with_no_space_stops_the_import_and_writes_nothing(tmp_path: Path) -> None:
    folder = copy_policy(tmp_path)
    before = snapshot(folder)
    types = [*TYPES, ("22222-2", LOINC, "Nouvelle classe", "77")]
    classes = [*CLASSES, ("77", "Nouvelle")]
    fhir = write_distribution(tmp_path / "fhir", types=types, classes=classes)
    with pytest.raises(PolicyLoadError, match="class '77' of '22222-2' has no space"):
        plan_import(fhir, folder)
    assert main(["policy", "import", str(fhir), "--policy-dir", str(folder)]) == 1
    assert snapshot(folder) == before
    unlisted = write_distribution(tmp_path / "unlisted", types=types)  # 77 is not in J57
    with pytest.raises(PolicyLoadError, match=re.escape("class '77' is not in classes.csv")):
        plan_import(unlisted, folder)


def test_the_command_reports_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_policy(tmp_path)
    before = snapshot(folder)
    fhir = write_distribution(tmp_path / "fhir")
    assert main(["policy", "import", str(fhir), "--policy-dir", str(folder), "--dry-run"]) == 0
    assert "dry run: nothing written" in capsys.readouterr().out
    assert snapshot(folder) == before
    assert main(["policy", "import", str(fhir), "--policy-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "removed (" in out and "rewrote document_types.csv" in out
    assert main(["policy", "import", str(fhir), "--policy-dir", str(folder)]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert main(["policy", "import", str(tmp_path / "none"), "--policy-dir", str(folder)]) == 1
    assert "not a folder of FHIR JSON files" in capsys.readouterr().err


def test_the_command_writes_the_folder_vigie_policy_dir_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = copy_policy(tmp_path)
    before, installed = snapshot(folder), snapshot(policy.DIRECTORY)
    fhir = write_distribution(tmp_path / "fhir")
    monkeypatch.setenv("VIGIE_POLICY_DIR", str(folder))  # the folder the service decides with
    assert main(["policy", "import", str(fhir)]) == 0
    assert f"in {folder}" in capsys.readouterr().out
    assert snapshot(folder) != before
    assert snapshot(policy.DIRECTORY) == installed
