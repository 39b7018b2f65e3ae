"""Rate limits on break glass and exports (429, traced), and the break-glass review queue."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from api.app import create_app
from tests.api.conftest import Api, KeyFiles, ps, setup_dossier
from tests.policy_copy import copy_policy


def glass(api: Api, who: str = "stranger", **extra: Any) -> Any:
    return api.call(
        who,
        "POST",
        "/v1/decisions",
        {
            "patient_id": "P1",
            "action": "document.read",
            "document_id": "bio",
            "mode": "break_glass",
            "justification": "Patient inconscient",
            **extra,
        },
    )


def test_break_glass_and_export_rates_answer_429_and_are_traced(
    settings: Any, database: Any, key_files: KeyFiles, tmp_path: Path
) -> None:
    folder = copy_policy(
        tmp_path,
        break_glass_rate_count="3,requests",
        break_glass_rate_window="3600,seconds",
        export_rate_count="1,requests",
        export_rate_window="3600,seconds",
    )
    tight = dataclasses.replace(settings, policy_dir=folder)
    api = Api(create_app(tight, database=database, configure_logs=False).test_client(), key_files)
    setup_dossier(api)
    answers = [glass(api) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1].get_json()
    assert limited["reason"] == "rate.limited"
    assert answers[-1].headers["Content-Type"] == "application/problem+json"
    assert glass(api, who="gp2").status_code == 200  # the limit is per actor
    entries = api.call(
        "auditor", "GET", f"/v1/ledger/entries?from_seq={limited['trace']['seq']}&limit=1"
    )
    recorded = entries.get_json()["items"][0]["header"]
    assert (recorded["decision"], recorded["reason"]) == ("deny", "rate.limited")
    assert api.call("holder", "GET", "/v1/dossiers/P1/traces/export").status_code == 200
    assert api.call("holder", "GET", "/v1/dossiers/P1/traces/export").status_code == 429


def test_a_rate_limited_batch_or_listing_is_recorded_as_the_request_alone(
    settings: Any, database: Any, key_files: KeyFiles, tmp_path: Path
) -> None:
    """With a break-glass rate of 2: a batch and a listing pass, the next two are denied
    rate.limited (429) and recorded as the request alone: no per-document decisions."""
    folder = copy_policy(tmp_path, break_glass_rate_count="2,requests")
    tight = dataclasses.replace(settings, policy_dir=folder)
    api = Api(create_app(tight, database=database, configure_logs=False).test_client(), key_files)
    setup_dossier(api)
    glass = {"mode": "break_glass", "justification": "Patient inconscient"}
    batch = {"patient_id": "P1", "document_ids": ["bio", "psy"], **glass}
    one = {"patient_id": "P1", "document_ids": ["bio"], **glass}
    listing = {"patient_id": "P1", "action": "document.list", **glass}
    answers = [
        api.call("stranger", "POST", "/v1/decisions/batch", batch),
        api.call("stranger", "POST", "/v1/decisions", listing),
        api.call("stranger", "POST", "/v1/decisions/batch", one),
        api.call("stranger", "POST", "/v1/decisions", listing),
    ]
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    first = answers[0].get_json()["trace"]["seq"]
    entries = api.call("auditor", "GET", f"/v1/ledger/entries?from_seq={first}&limit=4")
    items = entries.get_json()["items"]
    assert [i["header"]["reason"] for i in items] == [
        "emergency.break_glass",
        "emergency.break_glass",
        "rate.limited",
        "rate.limited",
    ]
    assert [len(i["payload"]["documents"]) for i in items[:2]] == [2, 3]
    assert [("documents" in i["payload"]) for i in items[2:]] == [False, False]
    assert items[2]["payload"]["document_id"] == "bio"
    assert items[2]["payload"]["document_type"] == "11502-2"
    assert "document_id" not in items[3]["payload"]
    assert [a.get_json()["reason"] for a in answers[2:]] == ["rate.limited"] * 2


def test_break_glass_review_flags_cite_their_entries(api: Api) -> None:
    setup_dossier(api)
    for _ in range(5):
        api.decide("stranger", "P1", "dossier.read")  # denied: not authorised
    seqs = [glass(api).get_json()["trace"]["seq"] for _ in range(4)]
    glass(api, who="gp2", justification="Suivi en urgence")
    queue = api.call("auditor", "GET", "/v1/audit/break-glass").get_json()["items"]
    assert [i["seq"] for i in queue][:5][1:] == sorted(seqs, reverse=True)
    latest = next(i for i in queue if i["seq"] == seqs[-1])
    assert latest["justification"] == "Patient inconscient"
    assert latest["actor"]["id"] == ps("stranger")
    flags = {f["flag"]: f for f in latest["flags"]}
    assert flags["many_in_a_day"]["entries"] == seqs
    assert len(flags["denied_burst"]["entries"]) >= 5
    assert flags["no_care_relationship"]["entries"] == [seqs[-1]]
    gp2 = next(i for i in queue if i["actor"]["id"] == ps("gp2"))
    assert "no_care_relationship" not in {f["flag"] for f in gp2["flags"]}
    page = api.call("auditor", "GET", "/v1/audit/break-glass?limit=2").get_json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    assert api.call("mt", "GET", "/v1/audit/break-glass").status_code == 403
    reads = api.call("auditor", "GET", "/v1/audit/events?action=ledger.read").get_json()["items"]
    assert len(reads) >= 2  # the reviews themselves are in the ledger


def test_flags_severity_and_review_state(api: Api) -> None:
    setup_dossier(api)
    for actor, emergency in [
        ("regulator", {"mode": "regulation", "justification": "Appel au 15"}),
        ("blocked", {"mode": "break_glass", "justification": "Patient inconscient aux urgences"}),
        ("stranger", {"mode": "break_glass", "justification": " vérif . "}),  # weak
    ]:
        body = {"patient_id": "P1", "action": "document.list", **emergency}
        api.call(actor, "POST", "/v1/decisions", body)
    queue = api.call("auditor", "GET", "/v1/audit/break-glass").get_json()["items"]
    by_actor = {i["actor"]["id"]: i for i in queue}
    flags = {who: {f["flag"] for f in i["flags"]} for who, i in by_actor.items()}
    assert flags[ps("regulator")] == set()  # regulation: never "no care relationship"
    assert "blocked_by_patient" in flags[ps("blocked")]
    assert "weak_justification" not in flags[ps("blocked")]
    assert {"weak_justification", "no_care_relationship"} <= flags[ps("stranger")]
    severities = {who: i["severity"] for who, i in by_actor.items()}
    assert severities[ps("blocked")] > severities[ps("stranger")] > severities[ps("regulator")]
    assert by_actor[ps("stranger")]["actor"]["profession"] == "10"

    seq = by_actor[ps("stranger")]["seq"]
    denied = api.call("mt", "POST", "/v1/audit/reviews", {"seq": seq, "comment": "vu"})
    assert denied.status_code == 403 and denied.get_json()["reason"] == "actor.not_allowed"
    not_emergency = api.call("auditor", "POST", "/v1/audit/reviews", {"seq": 0, "comment": "x"})
    assert not_emergency.status_code == 422
    done = api.call(
        "auditor", "POST", "/v1/audit/reviews", {"seq": seq, "comment": "Appel du Dr, justifié"}
    )
    assert done.status_code == 200 and done.get_json()["reason"] == "auditor.review"
    reviewed = api.call("auditor", "GET", "/v1/audit/break-glass?status=reviewed").get_json()
    assert [i["seq"] for i in reviewed["items"]] == [seq]
    assert reviewed["items"][0]["review"]["comment"] == "Appel du Dr, justifié"
    assert reviewed["items"][0]["review"]["seq"] == done.get_json()["trace"]["seq"]
    pending = api.call("auditor", "GET", "/v1/audit/break-glass?status=to_review").get_json()
    assert seq not in {i["seq"] for i in pending["items"]} and len(pending["items"]) == 2
    entry = api.call(
        "auditor", "GET", f"/v1/audit/events?action=audit.review&actor_id={ps('auditor')}"
    ).get_json()["items"]
    assert entry[0]["reviewed_seq"] == seq
