"""Hostile edges of the API (issue 13, findings 5, 6 and 9): cursors naming a seq no store can
hold, dates that leave the calendar once converted to UTC, and justifications or comments
that are blank to the eye or carry terminal control characters. Each is a 4xx problem with
nothing recorded, never a 5xx nor a false outage (the store-unavailable metric stays put)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from api.problem import ProblemError
from api.routes.trace import MAX_SEQ, decode_cursor, encode_cursor
from tests.api.conftest import Api, setup_dossier


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def ledger_size(api: Api) -> int:
    with api.client.application.extensions["vigie"].database.read_only() as uow:
        return int(uow.ledger.head().size)


def outages(api: Api) -> float:
    metrics = api.client.application.extensions["vigie.metrics"]
    value = metrics.registry.get_sample_value("vigie_store_unavailable_total")
    return float(value or 0)


def problem_of(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:400]
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = response.get_json()
    if field is not None:
        assert problem.get("field") == field, problem
    return problem


# -- finding 5: cursors -----------------------------------------------------------------------

HUGE = [str(10**30), str(2**63), "9" * 19, "1" * 400, "00012", "+5", "-1", "٣", "²", "1 ", ""]


@pytest.mark.parametrize("route", ["traces", "overview", "events", "break-glass"])
def test_a_cursor_out_of_the_int64_range_is_422(api: Api, route: str) -> None:
    setup_dossier(api)
    who, path = {
        "traces": ("holder", "/v1/dossiers/P1/traces"),
        "overview": ("holder", "/v1/dossiers/P1/overview"),
        "events": ("auditor", "/v1/audit/events"),
        "break-glass": ("auditor", "/v1/audit/break-glass"),
    }[route]
    before, down = ledger_size(api), outages(api)
    for value in HUGE:
        response = api.call(who, "GET", f"{path}?cursor={cursor('seq:' + value)}")
        problem_of(response, 422, "cursor")
    assert ledger_size(api) == before and outages(api) == down
    largest = api.call(who, "GET", f"{path}?cursor={encode_cursor(MAX_SEQ)}")
    assert largest.status_code == 200, largest.get_json()


def test_cursors_round_trip_within_the_bounds() -> None:
    for seq in (0, 1, 2**53, MAX_SEQ):
        assert decode_cursor(encode_cursor(seq)) == seq
    for text in ("seq:" + str(MAX_SEQ + 1), "seq:", "seq:1:2", "page:1", "\xff"):
        with pytest.raises(ProblemError):
            decode_cursor(cursor(text))


# -- finding 6: dates -------------------------------------------------------------------------

OUT_OF_RANGE = [
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:00:00-01:00",
    "0001-01-01T00:00:00%2B23:59",
    "0001-01-01T00:59:59%2B01:00",
]


@pytest.mark.parametrize("name", ["since", "until"])
def test_a_date_out_of_range_once_in_utc_is_422_not_a_false_outage(api: Api, name: str) -> None:
    setup_dossier(api)
    before, down = ledger_size(api), outages(api)
    for value in OUT_OF_RANGE:
        for who, path in [
            ("holder", "/v1/dossiers/P1/traces"),
            ("holder", "/v1/dossiers/P1/overview"),
            ("auditor", "/v1/audit/events"),
            ("auditor", "/v1/audit/break-glass"),
        ]:
            response = api.call(who, "GET", f"{path}?{name}={value}")
            problem = problem_of(response, 422, name)
            assert "UTC" in problem["detail"]
    assert ledger_size(api) == before and outages(api) == down
    for value in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T22:00:00-01:00"):
        response = api.call("holder", "GET", f"/v1/dossiers/P1/traces?{name}={value}")
        assert response.status_code == 200, (value, response.get_json())
