"""A reader never learns what is hidden from them (issue 13, findings 1-3 and 10).

- The outbox is read by the holder, a representative and the treating doctor only, and never
  names a document its reader may not see.
- A representative cannot create (and so register itself on) a dossier: the policy says so.
- A document hidden from a reader (``invisible_to_representatives`` for a representative,
  ``invisible_to_patient`` for the holder and representatives) is in none of the reader's
  views: access review, notifications, history, summary, overview, export. Entries about it
  are withheld (header only) and the export still verifies offline.
- A stranger's denied request does not write its free text into someone else's history.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from api.web.wording import Namer
from ledger.export import verify_export
from tests.api.conftest import Api, ps

SECRET_TYPE = "11488-4"  # the secret document's type (nothing else in M1 has it)
PLAIN_TYPE = "11502-2"
ALL_VIEWS = ("access-review", "notifications", "traces", "traces/summary", "overview")


def _minor_with_a_secret(api: Api) -> None:
    """M1, a minor with representative R1 and treating doctor mt; mt deposits a plain
    result and a document for the minor only, reads it; a break-glass doctor reads it too."""
    body = {"patient_id": "M1", "consent": True, "minor": True, "representatives": ["R1"]}
    assert api.call("agent", "POST", "/v1/dossiers", body).status_code == 201
    doctor = {"professional_id": ps("mt")}
    assert api.call("rep", "PUT", "/v1/dossiers/M1/treating-doctor", doctor).status_code == 200
    for document in (
        {"document_id": "plain", "type_code": PLAIN_TYPE},
        {"document_id": "secret", "type_code": SECRET_TYPE, "invisible_to_representatives": True},
    ):
        response = api.call("mt", "POST", "/v1/dossiers/M1/documents", document)
        assert response.status_code == 201, response.get_json()
    assert api.decide("mt", "M1", "document.read", document_id="secret")["decision"] == "permit"
    glass = api.decide(
        "stranger",
        "M1",
        "document.read",
        document_id="secret",
        mode="break_glass",
        justification="Urgence vitale",
    )
    assert glass["decision"] == "permit"


def _view(api: Api, who: str, pid: str, view: str) -> Any:
    response = api.call(who, "GET", f"/v1/dossiers/{pid}/{view}")
    assert response.status_code == 200, (view, response.get_json())
    return response.get_json()


def _export(api: Api, who: str, pid: str) -> tuple[dict[str, Any], Any]:
    response = api.call(who, "GET", f"/v1/dossiers/{pid}/traces/export")
    assert response.status_code == 200, response.get_json()
    bundle = response.get_json()
    key = api.call(None, "GET", "/v1/ledger/key").get_data(as_text=True).strip()
    return bundle, verify_export(bundle, key)


def test_only_the_holder_side_and_the_treating_doctor_read_the_outbox(api: Api) -> None:
    from tests.api.conftest import setup_dossier

    setup_dossier(api)
    api.decide("stranger", "P1", "dossier.read", mode="break_glass", justification="Urgence vitale")
    denied = api.call("nurse", "GET", "/v1/dossiers/P1/notifications")  # authorised, not MT
    assert denied.status_code == 403
    assert denied.get_json()["reason"] == "actor.not_allowed"
    assert api.call("gp2", "GET", "/v1/dossiers/P1/notifications").status_code == 403
    for who in ("holder", "mt"):
        items = _view(api, who, "P1", "notifications")["items"]
        assert "notify.emergency_access" in {i["type"] for i in items}
    refusals = api.call("holder", "GET", "/v1/dossiers/P1/traces?actor_id=899700218896")
    last = refusals.get_json()["items"][0]
    assert (last["action"], last["decision"], last.get("view")) == (
        "dossier.read",
        "deny",
        "notifications",
    )  # the refusal is traced


def test_a_representative_cannot_create_a_dossier(api: Api) -> None:
    body = {"patient_id": "M9", "consent": True, "minor": True, "representatives": ["R1"]}
    response = api.call("rep", "POST", "/v1/dossiers", body)
    assert response.status_code == 403
    assert response.get_json()["reason"] == "actor.not_allowed"
    other = {**body, "representatives": ["R2"]}
    assert api.call("rep", "POST", "/v1/dossiers", other).get_json()["reason"] == (
        "actor.not_allowed"
    )
    asked = api.decide("rep", "M9", "dossier.create", consent=True)
    assert asked["reason"] == "actor.not_allowed"
    # nothing was created: the agent still can, and only then does the representative act
    assert api.call("rep", "GET", "/v1/dossiers/M9").get_json()["reason"] == "dossier.not_found"
    assert api.call("agent", "POST", "/v1/dossiers", body).status_code == 201
    assert api.call("rep", "GET", "/v1/dossiers/M9").status_code == 200
    holder = api.call("minor", "POST", "/v1/dossiers", {"patient_id": "M1", "consent": True})
    assert holder.status_code == 201  # the holder creates its own


def test_a_representative_sees_nothing_of_the_minors_secret(api: Api) -> None:
    _minor_with_a_secret(api)
    emergency = {"mode": "break_glass", "justification": "Consultation en urgence"}
    deposit = {"document_id": "secret2", "type_code": SECRET_TYPE}
    deposit |= {"invisible_to_representatives": True, **emergency}
    assert api.call("stranger", "POST", "/v1/dossiers/M1/documents", deposit).status_code == 201
    for view in ALL_VIEWS:
        seen = json.dumps(_view(api, "rep", "M1", view))
        assert "secret" not in seen and SECRET_TYPE not in seen, view
    review = _view(api, "rep", "M1", "access-review")
    assert set(review["documents"]) == {"plain"} and review["hidden_from_you"] == 2
    doctor = next(p for p in review["professionals"] if p["professional_id"] == ps("mt"))
    assert doctor["documents"] == ["plain"]
    # an author of hidden documents only is not named: that would say who wrote the secret
    assert ps("stranger") not in json.dumps(review)
    minors = _view(api, "minor", "M1", "access-review")["professionals"]
    author = next(p for p in minors if p["professional_id"] == ps("stranger"))
    assert author["basis"] == ["author"]
    traces = _view(api, "rep", "M1", "traces")["items"]
    withheld = [i for i in traces if i["withheld"]]
    assert {i["action"] for i in withheld} == {"document.add", "document.read"}
    assert all(i["actor"] is None and i["document_id"] is None for i in withheld)
    assert all(set(i) <= _HEADER_ITEM for i in withheld)
    assert any(i["action"] == "document.add" and not i["withheld"] for i in traces)  # plain
    summary = _view(api, "rep", "M1", "traces/summary")
    assert [i["withheld"] for i in summary["emergency"]] == [True, True]
    notices = _view(api, "rep", "M1", "notifications")["items"]
    assert {n["document_id"] for n in notices} <= {"plain", None}
    assert any(n["withheld"] and n["type"] == "notify.emergency_access" for n in notices)
    # filtering by actor would say who touched it: withheld entries stay out then
    by_doctor = api.call("rep", "GET", f"/v1/dossiers/M1/traces?actor_id={ps('mt')}").get_json()
    assert by_doctor["items"] and not any(i["withheld"] for i in by_doctor["items"])
    by_type = api.call("rep", "GET", "/v1/dossiers/M1/overview?actor_type=professional")
    assert not any(i["withheld"] for i in by_type.get_json()["items"])

    # the minor, the treating doctor and the auditor see it all
    for who in ("minor", "mt"):
        assert "secret" in json.dumps(_view(api, who, "M1", "access-review")), who
    for who in ("minor", "mt", "auditor"):
        items = _view(api, who, "M1", "traces")["items"]
        assert not any(i["withheld"] for i in items), who
        assert "secret" in {i["document_id"] for i in items}, who


_HEADER_ITEM = {
    "seq",
    "time",
    "action",
    "mode",
    "decision",
    "reason",
    "kind",
    "leaf_hash",
    "erased",
    "withheld",
    "actor",
    "document_id",
}


def test_the_export_withholds_the_secret_and_still_verifies(api: Api) -> None:
    _minor_with_a_secret(api)
    api.decide("mt", "M1", "document.list")  # a listing names the secret too
    bundle, report = _export(api, "rep", "M1")
    shown = json.dumps(bundle)
    assert "secret" not in shown and SECRET_TYPE not in shown
    withheld = [e for e in bundle["entries"] if e["payload"] is None]
    assert {e["header"]["action"] for e in withheld} == {
        "document.add",
        "document.read",
        "document.list",
    }
    assert all(e["salt"] is None for e in withheld)
    assert report.withheld_seqs == tuple(e["index"] for e in withheld)
    assert report.erased_seqs == ()
    assert report.entries == len(bundle["entries"])  # the chain is whole: nothing left out
    fhir = api.call("rep", "GET", "/v1/dossiers/M1/traces/export?format=fhir").get_data(
        as_text=True
    )
    assert "secret" not in fhir and SECRET_TYPE not in fhir
    # the minor's own export carries every payload
    mine, report = _export(api, "minor", "M1")
    assert report.withheld_seqs == () and "secret" in json.dumps(mine)
    # once the minor lifts the secret, the representative sees it in every view
    lifted = {"invisible_to_representatives": False}
    assert api.call("minor", "PATCH", "/v1/dossiers/M1/documents/secret", lifted).status_code == 200
    bundle, report = _export(api, "rep", "M1")
    assert report.withheld_seqs == () and "secret" in json.dumps(bundle)
    assert "secret" in json.dumps(_view(api, "rep", "M1", "access-review"))


def test_a_hidden_result_is_kept_from_the_holder(api: Api) -> None:
    from tests.api.conftest import setup_dossier

    setup_dossier(api)
    result = {"document_id": "result", "type_code": "57833-6", "invisible_to_patient": True}
    assert api.call("mt", "POST", "/v1/dossiers/P1/documents", result).status_code == 201
    api.decide("gp2", "P1", "document.read", document_id="result")
    for view in ALL_VIEWS:
        seen = json.dumps(_view(api, "holder", "P1", view))
        assert '"result"' not in seen and "57833-6" not in seen, view
    review = _view(api, "holder", "P1", "access-review")
    assert review["hidden_from_patient"] == [] and review["hidden_from_you"] == 1
    bundle, report = _export(api, "holder", "P1")
    assert '"result"' not in json.dumps(bundle) and len(report.withheld_seqs) >= 2
    # the treating doctor still sees which results are hidden from the patient
    assert _view(api, "mt", "P1", "access-review")["hidden_from_patient"] == ["result"]
    # the holder's page says it in French, without naming the document
    names = Namer({}, {}, "P1", "fr")
    withheld = next(i for i in _view(api, "holder", "P1", "traces")["items"] if i["withheld"])
    sentence = names.sentence(withheld, "")
    assert "un document non visible pour vous" in sentence
    assert sentence.startswith("Quelqu'un")


def test_a_strangers_denied_free_text_is_not_stored(api: Api) -> None:
    from tests.api.conftest import setup_dossier

    setup_dossier(api)
    text = " ".join(["Spam"] * 300)  # 1,499 characters, nothing to trim (api.free_text)
    reason = text[:999]
    for _ in range(5):
        refused = api.decide("other_patient", "P1", "dossier.read", justification=text)
        assert refused["reason"] == "actor.not_allowed"
    opposed = api.call(
        "other_patient",
        "PUT",
        f"/v1/dossiers/P1/oppositions/{ps('gp2')}",
        {"reason": reason},
    )
    assert opposed.status_code == 403
    stranger_ps = api.decide("stranger", "P1", "dossier.read", justification=text)
    assert stranger_ps["reason"] == "professional.not_authorized"
    bundle, _ = _export(api, "holder", "P1")
    assert "Spam" not in json.dumps(bundle)
    payloads = [e["payload"] for e in bundle["entries"]]
    marks = [p["justification_withheld"] for p in payloads if "justification_withheld" in p]
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert marks == [{"chars": len(text), "sha256": digest}] * 6
    reasons = [p.get("opposition_reason_withheld") for p in payloads]
    reasons = [r for r in reasons if r]
    assert [r["chars"] for r in reasons] == [len(reason)]
    # the denials themselves are traced, each one
    traces = _view(api, "holder", "P1", "traces?actor_id=P2")["items"]
    assert len(traces) == 6 and {i["decision"] for i in traces} == {"deny"}
    # a related actor's text, and any emergency justification, are kept as written
    glass = api.decide(
        "stranger", "P1", "dossier.read", mode="break_glass", justification="Urgence vitale"
    )
    assert glass["decision"] == "permit"
    bundle, _ = _export(api, "holder", "P1")
    assert bundle["entries"][-2]["payload"]["justification"] == "Urgence vitale"
    kept = api.decide("holder", "P1", "dossier.read", mode="break_glass", justification="le mien")
    assert kept["reason"] == "actor.not_allowed"
    bundle, _ = _export(api, "holder", "P1")
    assert bundle["entries"][-2]["payload"]["justification"] == "le mien"
