"""The holder's history: one entry per page view, own consultations folded, the tabs'
counts and the emergency accesses of the summary."""

from __future__ import annotations

from tests.api.conftest import Api, ps, setup_dossier


def _ledger_size(api: Api) -> int:
    service = api.client.application.extensions["vigie"]
    with service.database.read_only() as uow:
        return int(uow.ledger.head().size)


def _break_glass(api: Api) -> None:
    api.break_glass("document.list", "Patiente inconsciente, suspicion d'AVC")


def test_overview_is_one_entry_and_folds_own_views(api: Api) -> None:
    setup_dossier(api)
    _break_glass(api)
    api.decide("nurse", "P1", "document.read", document_id="bio")
    for _ in range(10):
        before = _ledger_size(api)
        answer = api.call("holder", "GET", "/v1/dossiers/P1/overview?limit=5")
        assert answer.status_code == 200, answer.get_json()
        assert _ledger_size(api) == before + 1
    body = answer.get_json()
    first, *rest = body["items"]
    assert first["actor"]["id"] == "P1" and first["repeat"] == 9  # the tenth is being read
    assert first["action"] == "traces.read" and first["view"] == "overview"
    assert [line["action"] for line in rest[:2]] == ["document.read", "document.list"]
    assert rest[0]["document_type"] == "11502-2"
    assert rest[1]["mode"] == "break_glass" and body["next_cursor"]
    counts = body["summary"]["counts"]
    assert counts["all"] == _ledger_size(api) - 1  # every entry is P1's; the last is this view
    assert counts["own"] >= 10 and counts["professionals"] >= 5
    emergency = body["summary"]["emergency"]
    assert [e["actor"]["id"] for e in emergency] == [ps("stranger")]
    assert emergency[0]["justification"].startswith("Patiente") and emergency[0]["new"] is False
    assert body["directory"][ps("mt")]["name"] == "Dr Bernard"
    assert body["dossier"]["treating_doctor"] == ps("mt") and body["review"]["professionals"]
    older = api.call("holder", "GET", f"/v1/dossiers/P1/overview?cursor={body['next_cursor']}")
    assert older.get_json()["items"][0]["seq"] < rest[-1]["seq"]


def test_summary_is_a_traced_read_and_marks_new_emergencies(api: Api) -> None:
    setup_dossier(api)
    api.call("holder", "GET", "/v1/dossiers/P1/traces/summary")
    _break_glass(api)
    answer = api.call("holder", "GET", "/v1/dossiers/P1/traces/summary")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["last_visit"] and [e["new"] for e in body["emergency"]] == [True]
    again = api.call("holder", "GET", "/v1/dossiers/P1/traces/summary").get_json()
    assert [e["new"] for e in again["emergency"]] == [False]
    traced = api.call("holder", "GET", "/v1/dossiers/P1/traces?action=traces.read").get_json()
    assert traced["items"][0]["seq"] == again["trace"]["seq"]
    assert traced["items"][0].get("view") == "summary"
    assert api.call("nurse", "GET", "/v1/dossiers/P1/traces/summary").status_code == 403


def test_overview_is_for_the_holder_side_only(api: Api) -> None:
    setup_dossier(api)
    denied = api.call("mt", "GET", "/v1/dossiers/P1/overview")
    assert denied.status_code == 403 and denied.get_json()["reason"] == "actor.not_allowed"
    mine = api.call("holder", "GET", f"/v1/dossiers/P1/traces?actor_id={ps('mt')}").get_json()
    assert mine["items"] and {i["actor"]["id"] for i in mine["items"]} == {ps("mt")}


def test_the_new_routes_are_in_the_openapi_document(api: Api) -> None:
    paths = api.call(None, "GET", "/openapi.json").get_json()["paths"]
    summary = paths["/v1/dossiers/{pid}/traces/summary"]["get"]
    schema = summary["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]["counts"]["properties"]) == {"all", "own", "professionals"}
    assert "/v1/dossiers/{pid}/overview" in paths and "post" in paths["/v1/audit/reviews"]


def test_a_representative_reads_the_minors_overview(api: Api) -> None:
    body = {"patient_id": "M1", "consent": True, "minor": True, "representatives": ["R1"]}
    assert api.call("agent", "POST", "/v1/dossiers", body).status_code == 201
    first = api.call("rep", "GET", "/v1/dossiers/M1/overview").get_json()
    second = api.call("rep", "GET", "/v1/dossiers/M1/overview").get_json()
    assert second["items"][0]["actor"]["id"] == "R1" and second["items"][0]["repeat"] == 1
    assert second["summary"]["counts"]["own"] == first["summary"]["counts"]["own"] + 1
    assert api.call("holder", "GET", "/v1/dossiers/M1/overview").status_code == 403
