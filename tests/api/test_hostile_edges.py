"""Hostile edges of the API (issue 13, findings 5, 6 and 9): cursors naming a seq no store can
hold, dates that leave the calendar once converted to UTC, and justifications or comments
that are blank to the eye or carry terminal control characters. Each is a 4xx problem with
nothing recorded, never a 5xx nor a false outage (the store-unavailable metric stays put)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from api.app import MAX_BODY
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


# -- finding 9: free text ---------------------------------------------------------------------

BLANK = [
    "\u200b",
    "\u200b\u200b\u200b",
    "\u2060\ufeff\u200d\u200c",
    " \u3000\u00a0\u200b\u2028 ",
    "\u202e\u2066\u2069",
    "\u2800\u3164\u115f",
    "\u034f\ufe0f",
    "\u00ad\u180e",
]
CONTROLS = [
    "ok \x1b[31m rouge",
    "sonnerie\x07",
    "efface\x7f",
    "\x9b31m",
    "ligne\x85suivante",
    "\x00",
]
JUSTIFIED = "Patient inconscient aux urgences, suspicion d'AVC"


def break_glass(api: Api, justification: Any, who: str = "stranger", **extra: Any) -> Any:
    body = {
        "patient_id": "P1",
        "action": "document.read",
        "document_id": "bio",
        "mode": "break_glass",
        "justification": justification,
        **extra,
    }
    return api.call(who, "POST", "/v1/decisions", body)


def stored_payload(api: Api, seq: int) -> dict[str, Any]:
    with api.client.application.extensions["vigie"].database.read_only() as uow:
        (hit,) = uow.index.search(before_seq=seq + 1, limit=1)
        assert hit.seq == seq
        return hit.entry.payload_dict() or {}


def test_a_justification_that_shows_nothing_is_no_justification(api: Api) -> None:
    setup_dossier(api)
    for text in BLANK:
        response = break_glass(api, text)
        answer = response.get_json()
        assert response.status_code == 200, answer
        assert answer["decision"] == "deny", (text, answer)
        assert answer["reason"] == "emergency.justification_required", (text, answer)
        assert not stored_payload(api, answer["trace"]["seq"]).get("justification")
    for text in BLANK[:3]:  # break glass is rate-limited (20 a day per professional)
        batch = api.call(
            "stranger",
            "POST",
            "/v1/decisions/batch",
            {
                "patient_id": "P1",
                "document_ids": ["bio"],
                "mode": "break_glass",
                "justification": text,
            },
        ).get_json()
        assert batch["decisions"][0]["reason"] == "emergency.justification_required", batch
        deposit = api.call(
            "stranger",
            "POST",
            "/v1/dossiers/P1/documents",
            {
                "document_id": f"urg-{len(text)}",
                "type_code": "11502-2",
                "mode": "break_glass",
                "justification": text,
            },
        )
        assert deposit.status_code == 403, deposit.get_json()
        assert deposit.get_json()["reason"] == "emergency.justification_required"


def test_a_justification_is_stored_trimmed_and_decided_on_as_stored(api: Api) -> None:
    setup_dossier(api)
    answer = break_glass(api, f"\u200b\ufeff {JUSTIFIED}\u200b\u2060 ").get_json()
    assert answer["decision"] == "permit" and answer["reason"] == "emergency.break_glass"
    assert stored_payload(api, answer["trace"]["seq"])["justification"] == JUSTIFIED
    answer = break_glass(api, "Patient inconscient\r\nAVC suspecté\rtransféré").get_json()
    assert answer["decision"] == "permit"
    stored = stored_payload(api, answer["trace"]["seq"])["justification"]
    assert stored == "Patient inconscient\nAVC suspecté\ntransféré"
    inside = "Patient ❤\ufe0f inconscient, mot\u200bclé"  # inner characters are kept
    answer = break_glass(api, inside).get_json()
    assert stored_payload(api, answer["trace"]["seq"])["justification"] == inside


def test_control_characters_in_free_text_are_refused_and_nothing_is_recorded(api: Api) -> None:
    setup_dossier(api)
    before = ledger_size(api)
    for text in CONTROLS:
        problem = problem_of(break_glass(api, text), 422, "justification")
        assert "control character" in problem["detail"] or "NUL" in problem["detail"]
        problem_of(
            api.call(
                "holder",
                "PUT",
                "/v1/dossiers/P1/oppositions/810000000002",
                {"reason": f"conflit {text}"},
            ),
            422,
            "reason",
        )
        problem_of(
            api.call("auditor", "POST", "/v1/audit/reviews", {"seq": 1, "comment": text}),
            422,
            "comment",
        )
    assert ledger_size(api) == before


def test_a_review_comment_or_opposition_reason_that_shows_nothing_is_refused(api: Api) -> None:
    setup_dossier(api)
    answer = break_glass(api, JUSTIFIED).get_json()
    seq = answer["trace"]["seq"]
    before = ledger_size(api)
    for text in BLANK:
        problem = problem_of(
            api.call("auditor", "POST", "/v1/audit/reviews", {"seq": seq, "comment": text}),
            422,
            "comment",
        )
        assert "comment" in problem["detail"]
        problem_of(
            api.call("holder", "PUT", "/v1/dossiers/P1/oppositions/810000000002", {"reason": text}),
            422,
            "reason",
        )
    assert ledger_size(api) == before
    done = api.call(
        "auditor", "POST", "/v1/audit/reviews", {"seq": seq, "comment": "\u200bVérifié\u200b "}
    )
    assert done.status_code == 200, done.get_json()
    assert stored_payload(api, done.get_json()["trace"]["seq"])["comment"] == "Vérifié"


def test_invisible_characters_do_not_make_a_justification_strong() -> None:
    from api.emergency import weak_justification

    assert weak_justification("AVC" + "\u200b" * 30)
    assert weak_justification("\u2800" * 20)
    assert not weak_justification(JUSTIFIED)


# -- finding 7: chunked bodies, through the WSGI app (the server's own test: test_server) -------


def chunked(
    api: Api, data: bytes, path: str = "/v1/decisions", stream: Any = None, **environ: Any
) -> Any:
    """A POST whose body comes as a terminated stream with no Content-Length, as granian and
    werkzeug's server pass a ``Transfer-Encoding: chunked`` body on."""
    return api.client.open(
        path,
        method="POST",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token('agent')}", "Transfer-Encoding": "chunked"},
        environ_overrides={
            "wsgi.input": stream if stream is not None else io.BytesIO(data),
            "wsgi.input_terminated": True,
            **environ,
        },
    )


class BrokenChunks(io.RawIOBase):
    """What a server's stream does on a bad chunk size: the read fails."""

    def readable(self) -> bool:
        return True

    def readinto(self, _buffer: Any) -> int:
        raise OSError("invalid chunk header")


def test_a_chunked_body_over_1_mib_is_413_and_records_nothing(api: Api) -> None:
    before = ledger_size(api)
    body = json.dumps({"patient_id": "P1", "action": "dossier.read", "justification": None})
    problem = problem_of(chunked(api, body.encode().ljust(MAX_BODY + 1)), 413)
    assert "1 MiB" in problem["detail"]
    problem_of(chunked(api, b"x" * (3 * MAX_BODY)), 413)
    beside = body.encode().ljust(MAX_BODY + 1)  # a Content-Length beside chunked is ignored
    problem_of(chunked(api, beside, CONTENT_LENGTH=str(len(body))), 413)
    assert ledger_size(api) == before
    exact = chunked(api, body.encode().ljust(MAX_BODY))
    assert exact.status_code == 200, exact.get_json()
    assert chunked(api, body.encode()).status_code == 200


def test_a_malformed_chunked_body_is_400(api: Api) -> None:
    before = ledger_size(api)
    problem_of(chunked(api, b"", stream=BrokenChunks()), 400)
    problem_of(chunked(api, b""), 400)  # granian ends the body at a bad chunk size
    assert ledger_size(api) == before
