"""Hostile and malformed requests: every one is a 4xx problem+json naming what is wrong, never
a 5xx; and whatever a random body gets, a 2xx answer matches the route's response schema as
``/openapi.json`` publishes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fastjsonschema
import jsonschema
import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import MAX_BODY, create_app
from api.endpoint import BodyValidator
from api.routes import decision, dossier, ledger, ops, trace
from models.database import Database
from tests.api.conftest import Api, KeyFiles, ps, settings_for, setup_dossier

DECISION = {"patient_id": "P1", "action": "dossier.read"}


def problem_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = response.get_json()
    assert problem["status"] == status and problem["type"].startswith("https://")
    assert problem["title"] and problem["detail"]
    assert response.headers["X-Request-Id"] == problem["request_id"]
    return problem


def raw(
    api: Api,
    path: str,
    data: bytes | str,
    content_type: str = "application/json",
    method: str = "POST",
    who: str = "agent",
) -> Any:
    return api.client.open(
        path,
        method=method,
        data=data,
        content_type=content_type,
        headers={"Authorization": f"Bearer {api.token(who)}"},
    )


def ledger_size(api: Api) -> int:
    with api.client.application.extensions["vigie"].database.read_only() as uow:
        return int(uow.ledger.head().size)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, key_files: KeyFiles) -> Iterator[Api]:
    """One SQLite app for the tables of malformed requests, which are refused before any
    database work; what reaches the stores is tested on both backends with ``api``."""
    url = f"sqlite:///{tmp_path_factory.mktemp('validation') / 'vigie.db'}"
    database = Database(url)
    database.upgrade()
    app = create_app(settings_for(url, key_files), database=database, configure_logs=False)
    yield Api(app.test_client(), key_files)
    database.dispose()


# -- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"patient_id": "P1",}',
        b"{'patient_id': 'P1'}",
        b'{"a": 1}{"b": 2}',
        b"\xff\xfe{}",
        b'{"patient_id": "P1\xff"}',
        b"[1, 2",
        b"nul",
        b"\x00",
    ],
)
def test_malformed_json_is_400(quick: Api, body: bytes) -> None:
    before = ledger_size(quick)
    problem = problem_of(raw(quick, "/v1/decisions", body), 400)
    assert "JSON" in problem["detail"]
    assert ledger_size(quick) == before


def test_empty_body_is_400(quick: Api) -> None:
    problem_of(raw(quick, "/v1/decisions", b""), 400)
    problem_of(
        raw(quick, "/v1/dossiers/P1/oppositions/810000000099", b"", method="PUT", who="holder"), 400
    )


@pytest.mark.parametrize("body", ["[]", '["P1"]', '"P1"', "1", "null", "true", "1e999"])
def test_body_that_is_not_an_object_is_422(quick: Api, body: str) -> None:
    problem = problem_of(raw(quick, "/v1/decisions", body), 422)
    assert "object" in problem["detail"]


WRONG_TYPES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/v1/decisions", {"patient_id": 1, "action": "dossier.read"}, "patient_id"),
    ("POST", "/v1/decisions", {"patient_id": None, "action": "dossier.read"}, "patient_id"),
    ("POST", "/v1/decisions", {"patient_id": "", "action": "dossier.read"}, "patient_id"),
    ("POST", "/v1/decisions", {**DECISION, "action": ["dossier.read"]}, "action"),
    ("POST", "/v1/decisions", {**DECISION, "document_id": 7}, "document_id"),
    ("POST", "/v1/decisions", {**DECISION, "justification": {"why": 1}}, "justification"),
    ("POST", "/v1/decisions", {**DECISION, "mode": True}, "mode"),
    ("POST", "/v1/decisions", {**DECISION, "flags": {"masked": "yes"}}, "flags.masked"),
    ("POST", "/v1/decisions", {**DECISION, "flags": {}}, "flags"),
    ("POST", "/v1/decisions", {**DECISION, "consent": "true"}, "consent"),
    ("POST", "/v1/decisions/batch", {"patient_id": "P1", "document_ids": "bio"}, "document_ids"),
    ("POST", "/v1/decisions/batch", {"patient_id": "P1", "document_ids": []}, "document_ids"),
    (
        "POST",
        "/v1/decisions/batch",
        {"patient_id": "P1", "document_ids": ["a", 2]},
        "document_ids.1",
    ),
    (
        "POST",
        "/v1/decisions/batch",
        {"patient_id": "P1", "document_ids": ["a"], "action": "dossier.read"},
        "action",
    ),
    ("POST", "/v1/dossiers", {"patient_id": "P1", "consent": "yes"}, "consent"),
    ("POST", "/v1/dossiers", {"patient_id": "P1", "consent": True, "minor": 0}, "minor"),
    (
        "POST",
        "/v1/dossiers",
        {"patient_id": "P1", "consent": True, "representatives": "R1"},
        "representatives",
    ),
    (
        "POST",
        "/v1/dossiers",
        {"patient_id": "P1", "consent": True, "representatives": ["R1", "R1"]},
        "representatives",
    ),
    (
        "POST",
        "/v1/dossiers",
        {"patient_id": "P1", "consent": True, "settings": {"break_glass_allowed": "no"}},
        "settings.break_glass_allowed",
    ),
    ("PATCH", "/v1/dossiers/P1/settings", {"regulation_allowed": 1}, "regulation_allowed"),
    ("PUT", "/v1/dossiers/P1/treating-doctor", {"professional_id": ["x"]}, "professional_id"),
    ("PUT", "/v1/dossiers/P1/oppositions/810000000099", {"reason": ""}, "reason"),
    ("POST", "/v1/dossiers/P1/documents", {"document_id": "d", "type_code": 11488}, "type_code"),
    (
        "POST",
        "/v1/dossiers/P1/documents",
        {"document_id": "d", "type_code": "11488-4", "masked": "true"},
        "masked",
    ),
    ("PATCH", "/v1/dossiers/P1/documents/d", {"masked": None}, "masked"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_TYPES)
def test_wrong_types_are_422_naming_the_field(
    quick: Api, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    problem = problem_of(raw(quick, path, json.dumps(body), method=method, who="holder"), 422)
    assert problem["field"] == field
    assert repr(field) in problem["detail"] or field in problem["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/decisions", {**DECISION, "admin": True}, "admin"),
        ("/v1/decisions", {**DECISION, "Patient_id": "P1"}, "Patient_id"),
        ("/v1/decisions", {**DECISION, "flags": {"masked": True, "hidden": True}}, "flags.hidden"),
        (
            "/v1/decisions/batch",
            {"patient_id": "P1", "document_ids": ["a"], "document_id": "a"},
            "document_id",
        ),
        (
            "/v1/dossiers",
            {"patient_id": "P1", "consent": True, "settings": {"off": True}},
            "settings.off",
        ),
        ("/v1/dossiers/P1/documents", {"document_id": "d", "type_code": "11488-4", "x": 1}, "x"),
    ],
)
def test_unknown_fields_are_422_naming_them(
    quick: Api, path: str, body: dict[str, Any], field: str
) -> None:
    problem = problem_of(raw(quick, path, json.dumps(body)), 422)
    assert problem["field"] == field
    assert "unknown field" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"patient_id": "P1", "action": "dossier.delete_everything"}, "action"),
        ({"patient_id": "P1", "action": "DOSSIER.READ"}, "action"),
        ({**DECISION, "mode": "god"}, "mode"),
        ({**DECISION, "mode": "Break_Glass"}, "mode"),
        ({"action": "dossier.read"}, "patient_id"),
        ({"patient_id": "P1"}, "action"),
        ({}, "patient_id"),
    ],
)
def test_unknown_action_or_mode_and_missing_fields_are_422(
    quick: Api, body: dict[str, Any], field: str
) -> None:
    problem = problem_of(raw(quick, "/v1/decisions", json.dumps(body)), 422)
    assert problem["field"] == field


def test_missing_required_fields_on_each_route(quick: Api) -> None:
    for method, path, body, field in [
        ("POST", "/v1/decisions/batch", {"patient_id": "P1"}, "document_ids"),
        ("POST", "/v1/dossiers", {"patient_id": "P1"}, "consent"),
        ("POST", "/v1/dossiers/P1/documents", {"document_id": "d"}, "type_code"),
        ("PUT", "/v1/dossiers/P1/treating-doctor", {}, "professional_id"),
        ("PUT", "/v1/dossiers/P1/oppositions/810000000099", {}, "reason"),
    ]:
        problem = problem_of(raw(quick, path, json.dumps(body), method=method), 422)
        assert problem["field"] == field, (path, problem)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "text/json",
    ],
)
def test_wrong_content_type_is_415(quick: Api, content_type: str) -> None:
    problem = problem_of(raw(quick, "/v1/decisions", json.dumps(DECISION), content_type), 415)
    assert content_type.split(";", maxsplit=1)[0] in problem["detail"]


def test_json_suffix_content_types_are_accepted(quick: Api) -> None:
    for content_type in ["application/json; charset=utf-8", "application/merge-patch+json"]:
        response = raw(quick, "/v1/decisions", json.dumps(DECISION), content_type)
        assert response.status_code == 200, (content_type, response.get_json())


def test_body_over_1_mib_is_413_and_records_nothing(quick: Api) -> None:
    before = ledger_size(quick)
    filler = "x" * (MAX_BODY + 1)
    body = json.dumps({**DECISION, "justification": filler})
    problem = problem_of(raw(quick, "/v1/decisions", body), 413)
    assert "1 MiB" in problem["detail"]
    batch = json.dumps({"patient_id": "P1", "document_ids": ["d" * 128] * 9000})
    assert len(batch) > MAX_BODY
    problem_of(raw(quick, "/v1/decisions/batch", batch), 413)
    assert ledger_size(quick) == before
    just_under = json.dumps({**DECISION, "justification": None, "document_id": None})
    assert raw(quick, "/v1/decisions", just_under.ljust(MAX_BODY)).status_code == 200


def test_limits_of_the_schema(quick: Api) -> None:
    long_reason = {**DECISION, "justification": "Urgence vitale, " * 300}
    problem = problem_of(raw(quick, "/v1/decisions", json.dumps(long_reason)), 422)
    assert problem["field"] == "justification"
    assert "Urgence vitale" not in problem["detail"], "the detail echoes the justification"
    assert len(problem["detail"]) < 300
    ok = {**DECISION, "justification": "j" * 4000}
    assert raw(quick, "/v1/decisions", json.dumps(ok)).status_code == 200
    problem = problem_of(
        raw(quick, "/v1/decisions", json.dumps({**DECISION, "patient_id": "P" * 129})), 422
    )
    assert problem["field"] == "patient_id"
    ids = {"patient_id": "P1", "document_ids": [f"d{i}" for i in range(1001)]}
    problem = problem_of(raw(quick, "/v1/decisions/batch", json.dumps(ids)), 422)
    assert problem["field"] == "document_ids" and "d999" not in problem["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"patient_id": "P1\\u0000", "action": "dossier.read"}', "patient_id"),
        ('{"patient_id": "\\ud800", "action": "document.read", "document_id": "d"}', "patient_id"),
        (
            '{"patient_id": "P1", "action": "document.read", "document_id": "\\ud800"}',
            "document_id",
        ),
        (
            '{"patient_id": "P1", "action": "dossier.read", "justification": "a\\udfffb"}',
            "justification",
        ),
    ],
)
def test_text_no_store_can_hold_is_422_not_5xx(api: Api, body: str, field: str) -> None:
    """NUL breaks PostgreSQL text, an unpaired surrogate breaks UTF-8 (canonical JSON)."""
    before = ledger_size(api)
    problem = problem_of(raw(api, "/v1/decisions", body), 422)
    assert problem["field"] == field
    assert ledger_size(api) == before
    if field == "patient_id":
        dossier = body.split(', "action"', maxsplit=1)[0] + ', "consent": true}'
        problem_of(raw(api, "/v1/dossiers", dossier), 422)


def test_path_parameters_are_bounded_like_ids(api: Api) -> None:
    setup_dossier(api)
    too_long = "8" * 200
    for method, path in [
        ("PUT", f"/v1/dossiers/P1/authorizations/{too_long}"),
        ("PUT", f"/v1/dossiers/P1/blocks/{too_long}"),
        ("PUT", f"/v1/dossiers/P1/representatives/{too_long}"),
        ("DELETE", f"/v1/dossiers/P1/documents/{too_long}"),
        ("GET", f"/v1/dossiers/{too_long}"),
        ("PUT", "/v1/dossiers/P1/authorizations/81%00"),
        ("GET", "/v1/dossiers/P%001"),
        ("GET", "/v1/dossiers/P%201"),
        ("GET", "/v1/dossiers/P1%0A"),
        ("PUT", "/v1/dossiers/P1/representatives/R%C3%A91"),
        ("DELETE", "/v1/dossiers/P1/documents/d%3F1"),
    ]:
        response = api.call("holder", method, path)
        assert response.status_code == 422, (path, response.get_json())
        assert response.mimetype == "application/problem+json"
    assert api.call("holder", "GET", f"/v1/dossiers/{'P' * 129}").status_code == 422
    assert api.call("holder", "GET", f"/v1/dossiers/{'P' * 128}").status_code == 403
    rep = api.call("holder", "PUT", "/v1/dossiers/P1/representatives/R-1.a_b:c@d^e+f=g~h")
    assert rep.status_code != 422, rep.get_json()
    assert api.call("holder", "PUT", "/v1/dossiers/P1/blocks/810000000128").status_code == 200


QUERY_CASES = [
    ("/v1/dossiers/P1/traces?colour=red", "colour"),
    ("/v1/dossiers/P1/traces?limit=abc", "limit"),
    ("/v1/dossiers/P1/traces?limit=1.5", "limit"),
    ("/v1/dossiers/P1/traces?limit=0", "limit"),
    ("/v1/dossiers/P1/traces?limit=501", "limit"),
    ("/v1/dossiers/P1/traces?limit=99999999999999999999999", "limit"),
    ("/v1/dossiers/P1/traces?limit=1&limit=2", "limit"),
    ("/v1/dossiers/P1/traces?since=yesterday", "since"),
    ("/v1/dossiers/P1/traces?since=2026-01-01T00:00:00", "since"),
    ("/v1/dossiers/P1/traces?until=2026-13-01T00:00:00Z", "until"),
    ("/v1/dossiers/P1/traces?mode=god", "mode"),
    ("/v1/dossiers/P1/traces?actor_type=root", "actor_type"),
    ("/v1/dossiers/P1/traces?cursor=" + "z" * 65, "cursor"),
    ("/v1/dossiers/P1/traces/export?format=xml", "format"),
    ("/v1/dossiers/P1/notifications?cursor=abc", "cursor"),
    ("/v1/audit/events?actor_id=%00", "actor_id"),
    ("/v1/audit/events?decision=maybe", "decision"),
    ("/v1/ledger/entries?from_seq=-1", "from_seq"),
    ("/v1/ledger/entries?from_seq=x", "from_seq"),
    ("/v1/ledger/proofs/inclusion?seq=0", "tree_size"),
    ("/v1/ledger/proofs/consistency?from_size=1&to_size=x", "to_size"),
    ("/v1/decisions?x=1", "x"),
]


def test_bad_query_parameters_are_422_naming_them(api: Api) -> None:
    setup_dossier(api)
    for path, field in QUERY_CASES:
        response = api.call(
            "auditor",
            "POST" if path.startswith("/v1/decisions") else "GET",
            path,
            DECISION if path.startswith("/v1/decisions") else None,
        )
        problem = problem_of(response, 422)
        assert problem.get("field") == field, (path, problem)
    good = api.call("holder", "GET", "/v1/dossiers/P1/traces?since=2020-01-01T00:00:00Z&limit=3")
    assert good.status_code == 200


def test_unknown_route_and_wrong_method(quick: Api) -> None:
    for path in ["/v1/nope", "/v2/decisions", "/v1/dossiers/P1/secrets", "/v1/decisions/"]:
        problem_of(quick.call("holder", "GET", path), 404)
    problem_of(quick.call(None, "GET", "/v1/nope"), 404)
    for method, path in [
        ("GET", "/v1/decisions"),
        ("DELETE", "/v1/decisions"),
        ("PUT", "/v1/dossiers"),
        ("POST", "/v1/ledger/checkpoint"),
        ("PATCH", "/v1/dossiers/P1"),
    ]:
        response = quick.call("holder", method, path)
        problem_of(response, 405)


# -- random bodies --------------------------------------------------------------------------

# any code point, unpaired surrogates and NUL included (json.dumps escapes them)
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=20)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | ANY_TEXT,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
IDS = st.one_of(
    st.sampled_from(["P1", "P1", "P2", "bio", "psy", "masked", "nope", ps("nurse")]),
    st.sampled_from(["P1", "bio", "psy"]),
    st.text(min_size=1, max_size=140),
    ANY_TEXT,
)
PLAUSIBLE = {
    "patient_id": IDS,
    "action": st.sampled_from(
        [
            "document.read",
            "document.list",
            "dossier.read",
            "document.add",
            "dossier.create",
            "document.update_flags",
            "treating_doctor.set",
            "document.delete",
            "traces.read",
        ]
    ),
    "document_id": IDS | st.none(),
    "document_ids": st.lists(IDS, min_size=1, max_size=5),
    "mode": st.sampled_from(["normal", "normal", "break_glass", "regulation"]),
    "justification": st.none() | st.text(max_size=30) | ANY_TEXT,
    "type_code": st.sampled_from(["11488-4", "11502-2", "60591-5", "REMB", "68599-0"]),
    "consent": st.booleans(),
    "minor": st.booleans(),
    "representatives": st.lists(IDS, max_size=3, unique=True),
    "masked": st.booleans(),
    "invisible_to_patient": st.booleans(),
    "invisible_to_representatives": st.booleans(),
    "flags": st.fixed_dictionaries({"masked": st.booleans()}),
    "target_id": IDS,
    "settings": st.fixed_dictionaries({}, optional={"break_glass_allowed": st.booleans()}),
}
ROUTES = {
    "/v1/decisions": [
        "patient_id",
        "action",
        "document_id",
        "mode",
        "justification",
        "type_code",
        "flags",
        "consent",
        "target_id",
    ],
    "/v1/decisions/batch": ["patient_id", "action", "document_ids", "mode", "justification"],
    "/v1/dossiers": ["patient_id", "consent", "minor", "representatives", "settings"],
    "/v1/dossiers/P1/documents": [
        "document_id",
        "type_code",
        "masked",
        "invisible_to_patient",
        "invisible_to_representatives",
        "mode",
        "justification",
    ],
}
TEMPLATES = {"/v1/dossiers/P1/documents": "/v1/dossiers/{pid}/documents"}


def bodies(path: str) -> st.SearchStrategy[Any]:
    names = ROUTES[path]
    plausible = dict(PLAUSIBLE)
    fresh = st.uuids().map(str)
    if path == "/v1/decisions/batch":
        plausible["action"] = st.sampled_from(["document.read", "document.delete"])
    elif path == "/v1/dossiers":
        plausible["patient_id"] = fresh | IDS
    elif path == "/v1/dossiers/P1/documents":
        plausible["document_id"] = fresh | IDS
    right_keys = st.fixed_dictionaries({}, optional={n: plausible[n] | JSON for n in names})
    right_keys_right_values = st.fixed_dictionaries(
        {n: plausible[n] for n in names[:2]}, optional={n: plausible[n] for n in names[2:]}
    )
    extra_keys = right_keys.flatmap(
        lambda d: st.dictionaries(st.text(max_size=6), JSON, max_size=2).map(lambda x: {**d, **x})
    )
    # mostly well-formed bodies, so that permits, denials and creations are reached too
    kinds = [JSON, right_keys, extra_keys, *[right_keys_right_values] * 7]
    return st.integers(0, len(kinds) - 1).flatmap(lambda k: kinds[k])


def response_schema(app: Flask, path: str, method: str, status: int) -> dict[str, Any]:
    document = app.test_client().get("/openapi.json").get_json()
    operation = document["paths"][TEMPLATES.get(path, path)][method.lower()]
    return dict(operation["responses"][str(status)]["content"]["application/json"]["schema"])


def conforms(app: Flask, path: str, status: int, body: Any) -> None:
    schema = response_schema(app, path, "POST", status)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    validator.validate(body)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_bodies_never_5xx_and_2xx_conform(api: Api, data: st.DataObject) -> None:
    if ledger_size(api) == 0:
        setup_dossier(api)
    path = data.draw(st.sampled_from(list(ROUTES)), label="path")
    who = data.draw(
        st.sampled_from(["agent", "holder", "mt", "gp2", "nurse", "feed", "stranger"]), label="who"
    )
    body = data.draw(bodies(path), label="body")
    response = raw(api, path, json.dumps(body, allow_nan=True), who=who)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype in {"application/json", "application/problem+json"}
    answer = response.get_json()
    assert isinstance(answer, dict)
    if response.status_code in (200, 201):
        conforms(api.client.application, path, response.status_code, answer)
    else:
        assert response.mimetype == "application/problem+json"
        assert answer["status"] == response.status_code


def test_created_bodies_match_their_declared_schema(quick: Api) -> None:
    created = quick.call(
        "agent", "POST", "/v1/dossiers", {"patient_id": "CREATED-1", "consent": True}
    )
    assert created.status_code == 201
    schema = response_schema(quick.client.application, "/v1/dossiers", "POST", 201)
    jsonschema.validate(created.get_json(), schema)


def test_deciding_a_dossier_creation_is_a_200(quick: Api) -> None:
    response = quick.call(
        "agent",
        "POST",
        "/v1/decisions",
        {"patient_id": "NEW", "action": "dossier.create", "consent": True},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["decision"] == "permit"


def test_405_names_the_allowed_methods(quick: Api) -> None:
    response = quick.call("holder", "DELETE", "/v1/decisions")
    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "").split(", ")


# -- the compiled body check never accepts what jsonschema refuses ---------------------------

_BODY_SCHEMAS = [
    (f"{e.method} {e.path}", e.body)
    for table in (decision.routes, dossier.routes, ledger.routes, trace.routes, ops.routes)
    for e in table.endpoints
    if e.body
]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.text(min_size=120, max_size=140),
    st.sampled_from(["", "P1", "document.read", "normal", "break_glass", "11502-2"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


def _fitting(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values meant to satisfy ``schema``, with its length bounds hit and crossed by one."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kinds = schema.get("type", [])
    options: list[st.SearchStrategy[Any]] = []
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        if kind == "string":
            low, high = schema.get("minLength", 0), schema.get("maxLength", 30)
            options += [
                st.text(min_size=low, max_size=min(high, 12)),
                st.sampled_from(["x" * high, "x" * (high + 1), "x" * max(low - 1, 0)]),
            ]
        elif kind == "boolean":
            options.append(st.booleans())
        elif kind == "integer":
            options.append(st.integers(schema.get("minimum", -5), schema.get("maximum", 10**6)))
        elif kind == "null":
            options.append(st.none())
        elif kind == "array":
            low, high = schema.get("minItems", 0), schema.get("maxItems", 60)
            item = _fitting(schema.get("items", {}))
            options.append(st.lists(item, min_size=max(low - 1, 0), max_size=min(high + 1, 70)))
        elif kind == "object":
            options.append(_near_valid(schema))
    return st.one_of(*options) if options else _VALUES


@st.composite
def _near_valid(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    """Objects with the schema's own field names (now and then one missing, or an unknown
    one), each holding a value meant to fit it, or (one time in eight) anything at all."""
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    names = [n for n in sorted(properties) if n in required or draw(st.booleans())]
    if names and draw(st.integers(0, 9)) == 0:
        names.remove(draw(st.sampled_from(names)))
    if draw(st.integers(0, 9)) == 0:
        names.append("unknown")
    body = {}
    for name in names:
        wild = name not in properties or draw(st.integers(0, 7)) == 0
        body[name] = draw(_VALUES if wild else _fitting(properties[name]))
    return body


@pytest.mark.parametrize(("route", "schema"), _BODY_SCHEMAS, ids=[r for r, _ in _BODY_SCHEMAS])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_compiled_body_check_agrees_with_jsonschema(
    route: str, schema: dict[str, Any], data: st.DataObject
) -> None:
    body = data.draw(_near_valid(schema))
    validator = BodyValidator(schema)
    reference = not list(validator.full.iter_errors(body))
    try:
        validator._fast(body)
        fast = True
    except fastjsonschema.JsonSchemaException:
        fast = False
    assert fast == reference, (route, body)
