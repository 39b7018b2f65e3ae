"""Rate limits on break glass and exports (429, traced), and the break-glass review queue."""

from __future__ import annotations

import dataclasses
from typing import Any

from api.app import create_app
from api.config import RateLimit
from tests.api.conftest import Api, KeyFiles, ps, setup_dossier


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
    settings: Any, database: Any, key_files: KeyFiles
) -> None:
    tight = dataclasses.replace(
        settings, rate_break_glass=RateLimit(3, 3600), rate_export=RateLimit(1, 3600)
    )
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


def test_break_glass_review_flags_cite_their_entries(api: Api) -> None:
    setup_dossier(api)
    for _ in range(5):
        api.decide("stranger", "P1", "dossier.read")  # denied: not authorised
    seqs = [glass(api).get_json()["trace"]["seq"] for _ in range(4)]
    api.call(
        "gp2",
        "POST",
        "/v1/decisions",
        {
            "patient_id": "P1",
            "action": "document.read",
            "document_id": "bio",
            "mode": "break_glass",
            "justification": "Suivi en urgence",
        },
    )
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
