"""Patient export bundles, erasure, the verify-export command and the FHIR rendering."""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import ledger_factory as lf
import pytest
from fhir.resources.R4B.bundle import Bundle

from ledger.cli import verify_export_command
from ledger.entry import Draft, parse_header
from ledger.errors import EntryError, ExportError
from ledger.export import verify_export
from ledger.fhir import audit_bundle
from ledger.verify import verify_ledger
from ledger.writer import LedgerWriter

PATIENT = "P0001"


def _export_draft(patient: str = PATIENT) -> Draft:
    return Draft(
        kind="decision", action="traces.export", mode="normal", decision="permit",
        reason="patient.owner", policy_version=lf.POLICY,
        payload={"actor_id": patient, "actor_type": "patient"}, patient_id=patient,
    )  # fmt: skip


def _export(w: LedgerWriter, patient: str = PATIENT) -> dict[str, Any]:
    """Append ``patient``'s export entry and build its bundle, as the service does."""
    (entry,) = w.append([_export_draft(patient)])
    return w.export(patient, entry)


@pytest.fixture(scope="module")
def exported() -> tuple[LedgerWriter, dict[str, Any]]:
    w = lf.build(80, patients=4, checkpoints=(40,), batch=9)
    return w, _export(w)


def _key(w: LedgerWriter) -> str:
    return str(w.signer.verifier)


def test_bundle_verifies_and_covers_the_whole_patient_history(
    exported: tuple[LedgerWriter, dict[str, Any]],
) -> None:
    w, bundle = exported
    bundle = json.loads(json.dumps(bundle))  # survives JSON
    report = verify_export(bundle, _key(w))
    ref = w.appender.patient_ref(PATIENT)
    history = w.store.entries_for_patient(ref)
    assert report.entries == len(history) == len(bundle["entries"])
    assert [e["index"] for e in bundle["entries"]] == [e.seq for e in history]
    assert report.export_seq == history[-1].seq == w.store.head().size - 1
    assert report.tree_size == w.store.head().size
    assert report.patient_ref == ref
    assert report.erased_seqs == ()
    assert bundle["format"] == "vigie-access-history/v1"
    verify_ledger(w.store, _key(w))


def _failures(bundle: dict[str, Any], key: str) -> list[str]:
    with pytest.raises(ExportError) as caught:
        verify_export(bundle, key)
    return [f.check for f in caught.value.failures]


def test_tampered_bundles_are_rejected(exported: tuple[LedgerWriter, dict[str, Any]]) -> None:
    w, original = exported
    key = _key(w)

    bundle = copy.deepcopy(original)
    header = bundle["entries"][2]["header"]
    header["decision"] = "deny" if header["decision"] == "permit" else "permit"
    assert "inclusion proof" in _failures(bundle, key)

    bundle = copy.deepcopy(original)
    del bundle["entries"][3]
    assert "patient chain" in _failures(bundle, key)

    bundle = copy.deepcopy(original)
    bundle["entries"][1], bundle["entries"][2] = bundle["entries"][2], bundle["entries"][1]
    assert "patient chain" in _failures(bundle, key)

    bundle = copy.deepcopy(original)
    bundle["entries"][4]["payload"]["actor_name"] = "Someone Else"
    assert _failures(bundle, key) == ["payload commitment"]

    bundle = copy.deepcopy(original)
    proof = bundle["entries"][0]["inclusion_proof"]
    raw = bytearray(base64.b64decode(proof[0]))
    raw[0] ^= 0x01
    proof[0] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(ExportError) as caught:
        verify_export(bundle, key)
    assert [(f.check, f.entry) for f in caught.value.failures] == [("inclusion proof", 0)]

    other = str(lf.note_signer(7).verifier)
    assert "checkpoint signature" in _failures(copy.deepcopy(original), other)

    bundle = copy.deepcopy(original)
    bundle["entries"].pop()  # drop the export entry itself
    assert _failures(bundle, key) == ["export entry"]

    bundle = copy.deepcopy(original)
    bundle["patient_id"] = "P0002"
    assert set(_failures(bundle, key)) == {"patient"}

    bundle = copy.deepcopy(original)
    bundle["format"] = "something/v2"
    assert _failures(bundle, key) == ["format"]


def test_erasure_keeps_everything_verifiable() -> None:
    w = lf.build(50, patients=3, checkpoints=(25, 50), batch=6)
    ref = w.appender.patient_ref(PATIENT)
    before = [e.leaf_hash for e in w.store.entries(0, 1000)]
    erasure, destroyed = w.erase_patient(
        PATIENT, erased_by="dpo-1", legal_basis="RGPD art. 17", policy_version=lf.POLICY
    )
    header = parse_header(erasure.header)
    assert header["kind"] == "erasure"
    assert header["patient_ref"] == ref
    count = header["patient_seq"]
    assert erasure.payload_dict() == {
        "erased_by": "dpo-1", "legal_basis": "RGPD art. 17", "erased_entries": count,
    }  # fmt: skip
    assert destroyed == count
    assert [e.leaf_hash for e in w.store.entries(0, 50)] == before
    w.checkpoint()
    report = verify_ledger(w.store, _key(w), chunk_size=16)
    assert report.erased == header["patient_seq"]
    bundle = _export(w)
    result = verify_export(json.loads(json.dumps(bundle)), _key(w))
    erased = [e["index"] for e in bundle["entries"] if e["payload"] is None]
    assert list(result.erased_seqs) == erased
    assert len(erased) == header["patient_seq"]
    assert all(e["salt"] is None for e in bundle["entries"] if e["payload"] is None)
    # an erased payload cannot be smuggled back in altered
    bundle["entries"][0]["payload"] = {"patient_id": PATIENT}
    bundle["entries"][0]["salt"] = "00" * 32
    with pytest.raises(ExportError, match="payload commitment"):
        verify_export(bundle, _key(w))


def test_export_draft_must_be_the_export_of_that_patient() -> None:
    w = lf.build(5)
    (entry,) = w.append([_export_draft("P0001")])
    with pytest.raises(EntryError):
        w.export("P0002", entry)
    (read,) = w.append([lf.draft(5, "P0002")])  # that patient's, but not an export
    with pytest.raises(EntryError):
        w.export("P0002", read)


def test_withheld_payloads_verify_and_are_told_apart_from_erased(
    exported: tuple[LedgerWriter, dict[str, Any]], tmp_path: Path
) -> None:
    """An entry shown without its payload and salt, and no erasure entry after it, is one
    withheld from the reader (about a document hidden from them): its header still proves
    it in the chain and the tree; the report and the command say it was withheld."""
    w, original = exported
    bundle = copy.deepcopy(original)
    for item in bundle["entries"][1:3]:
        item["payload"] = item["salt"] = None
    report = verify_export(bundle, _key(w))
    assert report.withheld_seqs == tuple(e["index"] for e in bundle["entries"][1:3])
    assert report.erased_seqs == ()
    path, key = tmp_path / "bundle.json", tmp_path / "ledger.key"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    key.write_text(_key(w) + "\n", encoding="utf-8")
    out = io.StringIO()
    assert verify_export_command(str(path), str(key), out) == 0
    seqs = ", ".join(str(e["index"]) for e in bundle["entries"][1:3])
    assert f"not visible to the exporter; verified by header only): {seqs}" in out.getvalue()
    bundle["entries"][2]["header"]["action"] = "document.list"  # a withheld header is proven
    with pytest.raises(ExportError, match="inclusion proof"):
        verify_export(bundle, _key(w))


def test_verify_export_command(
    exported: tuple[LedgerWriter, dict[str, Any]], tmp_path: Path
) -> None:
    w, bundle = exported
    path, key = tmp_path / "bundle.json", tmp_path / "ledger.key"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    key.write_text(_key(w) + "\n", encoding="utf-8")
    out = io.StringIO()
    assert verify_export_command(str(path), str(key), out) == 0
    text = out.getvalue()
    assert "OK" in text
    assert f"tree size {w.store.checkpoint_latest().size}" in text  # type: ignore[union-attr]
    assert lf.ORIGIN in text
    assert f"entries: {len(bundle['entries'])}" in text

    bad = copy.deepcopy(bundle)
    bad["entries"][1]["payload"]["request_id"] = "forged"
    path.write_text(json.dumps(bad), encoding="utf-8")
    out = io.StringIO()
    assert verify_export_command(str(path), str(key), out) == 1
    assert "entries[1]" in out.getvalue()
    assert "payload commitment" in out.getvalue()

    for content, message in [("{", "not valid JSON"), ('{"a":1,"a":2}', "duplicate key")]:
        path.write_text(content, encoding="utf-8")
        out = io.StringIO()
        assert verify_export_command(str(path), str(key), out) == 2
        assert message in out.getvalue()
        assert out.getvalue().count("\n") == 1
    out = io.StringIO()
    assert verify_export_command(str(tmp_path / "missing.json"), str(key), out) == 2
    assert out.getvalue().startswith("error: cannot read bundle")


def test_fhir_bundle_validates_with_r4b_models(
    exported: tuple[LedgerWriter, dict[str, Any]],
) -> None:
    w, _ = exported
    entries = list(w.store.entries(0, 40))
    document = audit_bundle(entries, "2026-07-01T09:00:00Z")
    Bundle.model_validate(document)
    events = [item["resource"] for item in document["entry"]]
    assert len(events) == 40
    for entry, event in zip(entries, events, strict=True):
        header = parse_header(entry.header)
        assert event["outcome"] == ("0" if header["decision"] == "permit" else "8")
        purposes = {c["code"] for p in event.get("purposeOfEvent", []) for c in p["coding"]}
        assert purposes == {"break_glass": {"BTG"}, "regulation": {"ETREAT"}}.get(
            header["mode"], set()
        )
        ledger_entity = event["entity"][-1]
        assert ledger_entity["what"]["identifier"]["value"] == str(header["seq"])
        assert ledger_entity["detail"][0]["valueString"] == entry.leaf_hash.hex()
        agent = event["agent"][0]
        if entry.patient_ref is not None:
            assert agent["who"]["identifier"]["system"] == "urn:oid:1.2.250.1.71.4.2.1"
            assert event["entity"][0]["what"]["identifier"]["value"].startswith("P")


def test_every_proof_is_checked_even_where_proofs_share_nodes(
    exported: tuple[LedgerWriter, dict[str, Any]],
) -> None:
    """The verifier shares the upper part of paths already proven; any changed proof hash,
    at any entry and any height, still fails that entry, and only that entry."""
    w, original = exported
    key = _key(w)
    entries = original["entries"]
    for i, item in enumerate(entries):
        for position, text in enumerate(item["inclusion_proof"]):
            raw = bytearray(base64.b64decode(text))
            raw[position % 32] ^= 0x80
            for bad in (base64.b64encode(bytes(raw)).decode(), text[:-2] + "=", text + "AAAA", 7):
                bundle = copy.deepcopy(original)
                bundle["entries"][i]["inclusion_proof"][position] = bad
                with pytest.raises(ExportError) as caught:
                    verify_export(bundle, key)
                assert [(f.check, f.entry) for f in caught.value.failures] == [
                    ("inclusion proof", i)
                ], (i, position, bad)
        for bad_proof in (item["inclusion_proof"][:-1], [*item["inclusion_proof"], "AA=="], "x"):
            bundle = copy.deepcopy(original)
            bundle["entries"][i]["inclusion_proof"] = bad_proof
            with pytest.raises(ExportError) as caught:
                verify_export(bundle, key)
            assert [(f.check, f.entry) for f in caught.value.failures] == [("inclusion proof", i)]
