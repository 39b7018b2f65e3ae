"""The service through HTTP on both databases: routes, reasons, traces, export, proofs."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from api.config import load_keys
from api.routes.trace import export_bundle
from ledger import merkle
from ledger.errors import ExportError
from ledger.export import verify_export
from ledger.verify import verify_ledger
from tests.api.conftest import Api, ps, setup_dossier


def test_decisions_permit_and_deny_with_reasons(api: Api) -> None:
    setup_dossier(api)
    nurse = api.decide("nurse", "P1", "document.read", document_id="bio")
    assert (nurse["decision"], nurse["reason"]) == ("permit", "professional.authorized")
    assert nurse["obligations"] == [{"type": "notify.first_access", "recipients": ["patient"]}]
    assert api.decide("nurse", "P1", "document.read", document_id="bio")["obligations"] == []
    denied = api.decide("nurse", "P1", "document.read", document_id="psy")
    assert (denied["decision"], denied["reason"]) == ("deny", "professional.not_habilitated")
    assert api.decide("blocked", "P1", "dossier.read")["reason"] == "professional.blocked"
    assert api.decide("stranger", "P1", "dossier.read")["reason"] == "professional.not_authorized"
    glass = api.break_glass("document.read", "Patient inconscient", document_id="bio")
    assert glass["reason"] == "emergency.break_glass"
    assert {o["type"] for o in glass["obligations"]} >= {"notify.emergency_access"}
    assert (
        api.decide("stranger", "P1", "document.read", document_id="bio", mode="break_glass")[
            "reason"
        ]
        == "emergency.justification_required"
    )
    assert api.decide("nurse", "P1", "document.read", document_id="nope")["reason"] == (
        "document.not_found"
    )
    assert api.decide("gp2", "P9", "dossier.read")["reason"] == "dossier.not_found"
    seqs = [d["trace"]["seq"] for d in (nurse, denied, glass)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


def test_listing_is_filtered_by_the_service(api: Api) -> None:
    setup_dossier(api)
    nurse = api.decide("nurse", "P1", "document.list")
    assert [d["document_id"] for d in nurse["documents"]] == ["bio"]
    doctor = api.decide("mt", "P1", "document.list")
    assert sorted(d["document_id"] for d in doctor["documents"]) == ["bio", "masked", "psy"]
    assert set(doctor["documents"][0]) >= {
        "document_id",
        "type_code",
        "class_code",
        "author_id",
        "deposited_at",
        "masked",
        "status",
    }


def test_batch_decides_each_document_in_one_entry(api: Api) -> None:
    setup_dossier(api)
    response = api.call(
        "nurse",
        "POST",
        "/v1/decisions/batch",
        {"patient_id": "P1", "document_ids": ["bio", "psy", "masked", "nope"]},
    )
    body = response.get_json()
    outcomes = {d["document_id"]: d["reason"] for d in body["decisions"]}
    assert outcomes == {
        "bio": "professional.authorized",
        "psy": "professional.not_habilitated",
        "masked": "document.masked",
        "nope": "document.not_found",
    }
    entries = api.call("auditor", "GET", f"/v1/ledger/entries?from_seq={body['trace']['seq']}")
    recorded = entries.get_json()["items"][0]
    assert [d["reason"] for d in recorded["payload"]["documents"]] == list(outcomes.values())
    too_many = api.call(
        "nurse",
        "POST",
        "/v1/decisions/batch",
        {"patient_id": "P1", "document_ids": [f"d{i}" for i in range(1001)]},
    )
    assert too_many.status_code == 422


def test_dossier_routes_change_state_and_deny_with_403(api: Api) -> None:
    setup_dossier(api)
    state = api.call("holder", "GET", "/v1/dossiers/P1").get_json()
    assert state["treating_doctor"] == ps("mt")
    assert ps("blocked") in state["blocked"] and ps("opposed") in state["oppositions"]
    denied = api.call("gp2", "PATCH", "/v1/dossiers/P1/settings", {"break_glass_allowed": False})
    assert denied.status_code == 403
    problem = denied.get_json()
    assert problem["reason"] == "actor.not_allowed" and "trace" in problem
    assert denied.headers["Content-Type"] == "application/problem+json"
    ok = api.call("holder", "PATCH", "/v1/dossiers/P1/settings", {"break_glass_allowed": False})
    assert ok.status_code == 200
    assert (
        api.decide("stranger", "P1", "dossier.read", mode="break_glass", justification="urgence")[
            "reason"
        ]
        == "emergency.break_glass_opposed"
    )
    # idempotent PUT/DELETE, each traced
    first = api.call("holder", "PUT", f"/v1/dossiers/P1/authorizations/{ps('stranger')}")
    again = api.call("holder", "PUT", f"/v1/dossiers/P1/authorizations/{ps('stranger')}")
    assert first.status_code == again.status_code == 200
    assert again.get_json()["trace"]["seq"] == first.get_json()["trace"]["seq"] + 1
    assert (
        api.call("holder", "DELETE", f"/v1/dossiers/P1/authorizations/{ps('stranger')}").status_code
        == 200
    )
    assert (
        api.call("holder", "DELETE", f"/v1/dossiers/P1/authorizations/{ps('stranger')}").status_code
        == 200
    )
    assert api.decide("stranger", "P1", "dossier.read")["reason"] == "professional.not_authorized"
    # self-declaration, then a feeding opposition
    assert (
        api.call("stranger", "PUT", f"/v1/dossiers/P1/authorizations/{ps('stranger')}").status_code
        == 200
    )
    assert api.decide("stranger", "P1", "dossier.read")["reason"] == "professional.authorized"
    opposed = api.call(
        "opposed", "POST", "/v1/dossiers/P1/documents", {"document_id": "x", "type_code": "11488-4"}
    )
    assert opposed.get_json()["reason"] == "feeding.opposed"
    # flags, delete, close and reopen
    assert (
        api.call("holder", "PATCH", "/v1/dossiers/P1/documents/bio", {"masked": True}).status_code
        == 200
    )
    assert (
        api.decide("nurse", "P1", "document.read", document_id="bio")["reason"] == "document.masked"
    )
    assert api.call("holder", "DELETE", "/v1/dossiers/P1/documents/bio").get_json()["reason"] == (
        "document.author_only"
    )
    assert api.call("gp2", "DELETE", "/v1/dossiers/P1/documents/bio").status_code == 200
    assert (
        api.decide("mt", "P1", "document.read", document_id="bio")["reason"] == "document.not_found"
    )
    assert api.call("holder", "POST", "/v1/dossiers/P1/close").status_code == 200
    assert api.decide("mt", "P1", "dossier.read")["reason"] == "dossier.closed"
    assert api.call("holder", "POST", "/v1/dossiers/P1/reopen").status_code == 200
    assert api.decide("mt", "P1", "dossier.read")["reason"] == "professional.treating_doctor"
    assert api.call("holder", "DELETE", "/v1/dossiers/P1/treating-doctor").status_code == 200
    assert api.decide("mt", "P1", "dossier.read")["reason"] == "professional.not_authorized"


def test_minor_representative_and_secret(api: Api) -> None:
    created = api.call(
        "agent",
        "POST",
        "/v1/dossiers",
        {"patient_id": "M1", "consent": True, "minor": True, "representatives": ["R1"]},
    )
    assert created.status_code == 201
    assert api.call(
        "agent", "POST", "/v1/dossiers", {"patient_id": "M2", "consent": True, "minor": True}
    ).get_json()["reason"] == ("consent.required")
    assert (
        api.call(
            "rep", "PUT", "/v1/dossiers/M1/treating-doctor", {"professional_id": ps("mt")}
        ).status_code
        == 200
    )
    assert (
        api.call(
            "mt",
            "POST",
            "/v1/dossiers/M1/documents",
            {"document_id": "secret", "type_code": "11488-4", "invisible_to_representatives": True},
        ).status_code
        == 201
    )
    assert api.decide("rep", "M1", "document.read", document_id="secret")["reason"] == (
        "document.invisible_to_representatives"
    )
    assert api.decide("minor", "M1", "document.read", document_id="secret")["decision"] == "permit"
    assert (
        api.call(
            "minor",
            "PATCH",
            "/v1/dossiers/M1/documents/secret",
            {"invisible_to_representatives": False},
        ).status_code
        == 200
    )
    assert api.decide("rep", "M1", "document.read", document_id="secret")["decision"] == "permit"
    again = api.call(
        "mt", "PATCH", "/v1/dossiers/M1/documents/secret", {"invisible_to_representatives": True}
    )
    assert again.get_json()["reason"] == "document.flag_irreversible"
    assert api.call("rep", "DELETE", "/v1/dossiers/M1/representatives/R1").status_code == 200
    assert api.decide("rep", "M1", "dossier.read")["reason"] == "representative.not_registered"


def test_traces_paging_filters_and_access_rules(api: Api) -> None:
    setup_dossier(api)
    for _ in range(3):
        api.decide("nurse", "P1", "document.read", document_id="bio")
    api.break_glass("document.read", "Urgence vitale", document_id="bio")
    first = api.call("holder", "GET", "/v1/dossiers/P1/traces?limit=2").get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert first["items"][0]["mode"] == "break_glass"
    assert first["items"][0]["justification"] == "Urgence vitale"
    second = api.call(
        "holder", "GET", f"/v1/dossiers/P1/traces?limit=2&cursor={first['next_cursor']}"
    )
    assert second.get_json()["items"][0]["seq"] < first["items"][-1]["seq"]
    glass = api.call("holder", "GET", "/v1/dossiers/P1/traces?mode=break_glass").get_json()["items"]
    assert [i["actor"]["id"] for i in glass] == [ps("stranger")]
    professionals = api.call(
        "mt", "GET", "/v1/dossiers/P1/traces?actor_type=professional"
    ).get_json()
    assert {i["actor"]["type"] for i in professionals["items"]} == {"professional"}
    assert (
        api.call("nurse", "GET", "/v1/dossiers/P1/traces").get_json()["reason"]
        == "actor.not_allowed"
    )
    assert api.call("auditor", "GET", "/v1/dossiers/P1/traces").status_code == 200
    bad_cursor = api.call("holder", "GET", "/v1/dossiers/P1/traces?cursor=zzz")
    assert bad_cursor.status_code == 422


def test_export_verifies_offline_and_fhir_renders(api: Api, settings: Any) -> None:
    from fhir.resources.R4B.bundle import Bundle

    setup_dossier(api)
    api.break_glass("document.read", "Urgence vitale", document_id="bio")
    key = api.call(None, "GET", "/v1/ledger/key").get_data(as_text=True).strip()
    response = api.call("holder", "GET", "/v1/dossiers/P1/traces/export")
    assert response.status_code == 200
    bundle = response.get_json()
    report = verify_export(bundle, key)
    assert bundle["entries"][-1]["header"]["action"] == "traces.export"
    assert report is not None
    tampered = dict(bundle)
    tampered["entries"] = [dict(e) for e in bundle["entries"]]
    tampered["entries"][3] = {
        **tampered["entries"][3],
        "header": {**tampered["entries"][3]["header"], "decision": "deny"},
    }
    with pytest.raises(ExportError, match=r"entries\[3\] \(seq 3\)"):
        verify_export(tampered, key)
    fhir = api.call("holder", "GET", "/v1/dossiers/P1/traces/export?format=fhir")
    assert fhir.headers["Content-Type"].startswith("application/fhir+json")
    parsed = Bundle.model_validate(fhir.get_json())
    purposes = [
        c.code
        for e in parsed.entry
        for a in e.resource.agent or []
        for p in a.purposeOfUse or []
        for c in p.coding or []
    ]
    assert "BTG" in purposes
    assert api.call("nurse", "GET", "/v1/dossiers/P1/traces/export").status_code == 403


def test_an_export_proves_against_a_checkpoint_already_signed_past_it(api: Api, app: Any) -> None:
    """When a checkpoint signed after the export entry already covers it (a later call of the
    same group commit can sign one), the bundle holds the patient's entries up to the export
    and proves them against that checkpoint."""
    setup_dossier(api)
    assert api.call("holder", "GET", "/v1/dossiers/P1/traces/export").status_code == 200
    service = app.extensions["vigie"]
    with service.database.read_only() as uow:
        export = uow.ledger.entries(uow.ledger.head().size - 1, 1)[0]
    api.decide("nurse", "P1", "document.read", document_id="bio")  # P1's, after the export
    service.checkpoint_now()
    with service.database.unit_of_work() as uow:
        bundle = export_bundle(service, uow, "P1", export)
    key = api.call(None, "GET", "/v1/ledger/key").get_data(as_text=True).strip()
    report = verify_export(bundle, key)
    assert report.export_seq == export.seq
    assert report.tree_size == export.seq + 2


def test_ledger_routes_proofs_and_audit_search(api: Api, settings: Any) -> None:
    setup_dossier(api)
    api.decide("nurse", "P1", "document.read", document_id="bio")
    note = api.call(None, "GET", "/v1/ledger/checkpoint").get_data(as_text=True)
    size = int(note.splitlines()[1])
    root = base64.b64decode(note.splitlines()[2])
    entries = api.call("auditor", "GET", f"/v1/ledger/entries?from_seq=0&limit={size}").get_json()
    assert len(entries["items"]) == size
    proof = api.call(
        "auditor", "GET", f"/v1/ledger/proofs/inclusion?seq=3&tree_size={size}"
    ).get_json()
    merkle.verify_inclusion(
        3,
        size,
        bytes.fromhex(proof["leaf_hash"]),
        [base64.b64decode(p) for p in proof["proof"]],
        root,
    )
    assert (
        api.call("nurse", "GET", f"/v1/ledger/proofs/inclusion?seq=3&tree_size={size}").status_code
        == 403
    )
    more = api.decide("nurse", "P1", "document.read", document_id="bio")["trace"]["seq"] + 1
    consistency = api.call(
        None, "GET", f"/v1/ledger/proofs/consistency?from_size={size}&to_size={more}"
    )
    assert consistency.status_code == 200 and consistency.get_json()["proof"]
    assert (
        api.call(None, "GET", "/v1/ledger/proofs/consistency?from_size=0&to_size=1").status_code
        == 422
    )
    events = api.call("auditor", "GET", f"/v1/audit/events?actor_id={ps('nurse')}").get_json()
    assert events["items"] and {i["actor"]["id"] for i in events["items"]} == {ps("nurse")}
    denies = api.call("auditor", "GET", "/v1/audit/events?decision=deny").get_json()["items"]
    assert all(i["decision"] == "deny" for i in denies)
    assert api.call("holder", "GET", "/v1/audit/events").status_code == 403
    # every auditor read above is itself an entry
    audits = api.call("auditor", "GET", "/v1/audit/events?action=ledger.read").get_json()["items"]
    assert len(audits) >= 4
    keys = load_keys(settings)
    with api.client.application.extensions["vigie"].database.read_only() as uow:
        report = verify_ledger(uow.ledger, keys.ledger_signer.verifier)
        assert report.entries == uow.ledger.head().size


def test_access_review_and_notifications(api: Api) -> None:
    setup_dossier(api)
    api.decide("nurse", "P1", "document.read", document_id="bio")
    review = api.call("holder", "GET", "/v1/dossiers/P1/access-review").get_json()
    by_ps = {p["professional_id"]: p for p in review["professionals"]}
    assert ps("blocked") not in by_ps
    assert "treating_doctor" in by_ps[ps("mt")]["basis"]
    assert (
        "masked" in by_ps[ps("mt")]["documents"] and "masked" not in by_ps[ps("nurse")]["documents"]
    )
    assert review["emergency"]["break_glass"]["allowed"] is True
    assert api.call("mt", "GET", "/v1/dossiers/P1/access-review").status_code == 200
    denied = api.call("nurse", "GET", "/v1/dossiers/P1/access-review")
    assert denied.status_code == 403 and denied.get_json()["reason"] == "actor.not_allowed"
    outbox = api.call("holder", "GET", "/v1/dossiers/P1/notifications").get_json()["items"]
    assert {n["type"] for n in outbox} >= {
        "notify.dossier_created",
        "notify.first_access",
        "notify.document_added",
    }
