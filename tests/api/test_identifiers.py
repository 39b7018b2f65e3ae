"""Identifiers (api/identifiers.py): a professional is named by its PS_IdNat (POLICY.md §1,
``8`` + the 11 digits of its RPPS) on every route, body and token that names one; every other
id is bounded. Anything else is a 422 problem naming the field (a 401 for a token), and
nothing is recorded or changed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from flask import Flask

from api.app import create_app
from api.config import Settings
from api.endpoint import Validator
from api.identifiers import PROFESSIONAL_ID, is_opaque_id, is_professional_id
from api.routes import decision, dossier, ledger, ops, trace
from api.schema import PROFESSIONAL_TARGETS
from tests.api.conftest import Api, KeyFiles, setup_dossier
from tests.policy_copy import copy_policy

BAD_PS_IDS = [
    "abc",
    "81000345678",  # too short
    "8100034567890",  # too long
    "710003456789",  # wrong prefix
    " 810003456789",
    "810003456789 ",
    "8100 3456789",
    "".join(chr(0xFF10 + int(c)) for c in "810003456789"),  # fullwidth digits
    "٨١٠٠٠٣٤٥٦٧٨٩",  # Arabic-Indic digits
    "810003456789\n",
    "8" * 129,
]
TABLES = (decision.routes, dossier.routes, ledger.routes, trace.routes, ops.routes)


def _routes() -> list[tuple[str, str, str, Any]]:
    """(method, path with {bad}, field, body) for every way a request names a professional:
    a ``<ps_id>`` path parameter, a body field declared as a PS_IdNat, ``target_id`` of the
    decision point for each action whose target is a professional."""
    cases: list[tuple[str, str, str, Any]] = []
    for table in TABLES:
        for e in table.endpoints:
            body: Any = (
                {"reason": "conflit"} if e.body and "reason" in e.body["properties"] else None
            )
            if "<ps_id>" in e.path:
                path = e.path.replace("<pid>", "P1").replace("<ps_id>", "{bad}")
                cases.append((e.method, path, "ps_id", body))
            for name, schema in (e.body or {}).get("properties", {}).items():
                if schema is PROFESSIONAL_ID:
                    path = e.path.replace("<pid>", "P1")
                    cases.append((e.method, path, name, {name: "{bad}"}))
    for action in PROFESSIONAL_TARGETS:
        body = {"patient_id": "P1", "action": action, "target_id": "{bad}"}
        cases.append(("POST", "/v1/decisions", "target_id", body))
    return cases


ROUTES = _routes()


def test_every_route_naming_a_professional_is_covered() -> None:
    paths = {(m, p) for m, p, _, _ in ROUTES}
    for kind in ("authorizations", "blocks", "oppositions"):
        for method in ("PUT", "DELETE"):
            assert (method, f"/v1/dossiers/P1/{kind}/{{bad}}") in paths
    assert ("PUT", "/v1/dossiers/P1/treating-doctor") in paths
    assert len(ROUTES) == 6 + 1 + 7


def _state(api: Api) -> tuple[int, Any]:
    """The ledger size and P1's dossier as stored (read without a traced call)."""
    with api.client.application.extensions["vigie"].database.read_only() as uow:
        return int(uow.ledger.head().size), uow.dossiers.get("P1")


def _fill(template: Any, bad: str) -> Any:
    if isinstance(template, dict):
        return {k: _fill(v, bad) for k, v in template.items()}
    return bad if template == "{bad}" else template


@pytest.mark.parametrize(("method", "path", "field", "body"), ROUTES)
def test_a_malformed_professional_id_is_422_naming_it_and_nothing_is_recorded(
    api: Api, method: str, path: str, field: str, body: Any
) -> None:
    setup_dossier(api)
    before = _state(api)
    for bad in BAD_PS_IDS:
        response = api.call(
            "holder", method, path.replace("{bad}", quote(bad, safe="")), _fill(body, bad)
        )
        assert response.status_code == 422, (bad, response.get_json())
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        assert problem["field"] == field, (bad, problem)
        assert "PS_IdNat" in problem["detail"]
        assert _state(api) == before, bad
    good = api.call(
        "holder", method, path.replace("{bad}", "810009999999"), _fill(body, "810009999999")
    )
    assert good.status_code == 200, good.get_json()


def test_a_professional_token_with_a_malformed_sub_is_401(api: Api) -> None:
    setup_dossier(api)
    before = _state(api)
    for bad in [b for b in BAD_PS_IDS if len(b) <= 128]:
        token = api.token("mt", sub=bad)
        response = api.client.get("/v1/dossiers/P1", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (bad, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert "sub" in response.get_json()["detail"]
    assert _state(api) == before
    assert api.call("mt", "GET", "/v1/dossiers/P1").status_code == 200


def test_other_ids_are_bounded(api: Api) -> None:
    setup_dossier(api)
    before = _state(api)
    cases = [
        ("POST", "/v1/dossiers", {"patient_id": "P 3", "consent": True}, "patient_id"),
        ("POST", "/v1/dossiers", {"patient_id": "P3\n", "consent": True}, "patient_id"),
        ("POST", "/v1/dossiers", {"patient_id": "P3/x", "consent": True}, "patient_id"),
        (
            "POST",
            "/v1/dossiers",
            {"patient_id": "P3", "consent": True, "minor": True, "representatives": ["R é"]},
            "representatives.0",
        ),
        (
            "POST",
            "/v1/dossiers/P1/documents",
            {"document_id": "d#1", "type_code": "11502-2"},
            "document_id",
        ),
        (
            "POST",
            "/v1/decisions",
            {"patient_id": "P1", "action": "document.read", "document_id": "d 1"},
            "document_id",
        ),
        (
            "POST",
            "/v1/decisions/batch",
            {"patient_id": "P1", "document_ids": ["bio", "%41"]},
            "document_ids.1",
        ),
        (
            "POST",
            "/v1/decisions",
            {"patient_id": "P1", "action": "representative.add", "target_id": "R?1"},
            "target_id",
        ),
        ("PUT", "/v1/dossiers/P1/representatives/R%201", None, "person_id"),
        ("GET", "/v1/audit/events?patient_id=P%201", None, "patient_id"),
    ]
    for method, path, body, field in cases:
        response = api.call("agent" if path == "/v1/dossiers" else "holder", method, path, body)
        if path.startswith("/v1/audit"):
            response = api.call("auditor", method, path)
        assert response.status_code == 422, (path, body, response.get_json())
        assert response.get_json()["field"] == field, (path, response.get_json())
    assert _state(api) == before


def test_the_checks_follow_the_documented_forms() -> None:
    assert is_professional_id("899700218896") and is_professional_id("810000000000")
    for bad in BAD_PS_IDS:
        assert not is_professional_id(bad), bad
    assert is_opaque_id("2780576123456") and is_opaque_id("1.2.250.1.213.1.4.10^42")
    assert is_opaque_id("x" * 128) and not is_opaque_id("x" * 129)
    for bad in ["", "a b", "a/b", "a%b", "a?b", "a#b", "é", "a\n", "a\x00"]:
        assert not is_opaque_id(bad), bad


# -- the duplicate keys of a body ------------------------------------------------------------


def test_a_body_naming_a_field_twice_is_400_and_nothing_is_recorded(api: Api) -> None:
    setup_dossier(api)
    before = _state(api)
    for path, method, raw in [
        (
            "/v1/decisions",
            "POST",
            '{"patient_id": "P1", "action": "dossier.read", "patient_id": "P2"}',
        ),
        (
            "/v1/dossiers/P1/treating-doctor",
            "PUT",
            '{"professional_id": "810000000002", "professional_id": "810000000006"}',
        ),
        (
            "/v1/dossiers/P1/documents/bio",
            "PATCH",
            '{"masked": true, "masked": false}',
        ),
        (
            "/v1/decisions",
            "POST",
            '{"patient_id": "P1", "action": "document.update_flags", "document_id": "bio",'
            ' "flags": {"masked": true, "masked": false}}',
        ),
    ]:
        response = api.client.open(
            path,
            method=method,
            data=raw,
            content_type="application/json",
            headers={"Authorization": f"Bearer {api.token('holder')}"},
        )
        assert response.status_code == 400, (raw, response.get_json())
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        assert "twice" in problem["detail"] and problem["field"] in raw
        assert _state(api) == before
    same = json.dumps({"patient_id": "P1", "action": "dossier.read"})
    assert (
        api.client.post(
            "/v1/decisions",
            data=same,
            content_type="application/json",
            headers={"Authorization": f"Bearer {api.token('holder')}"},
        ).status_code
        == 200
    )


# -- what /openapi.json promises is what the service enforces ---------------------------------


def _operations(app: Flask) -> list[tuple[str, str, dict[str, Any]]]:
    document = app.test_client().get("/openapi.json").get_json()
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_path_parameters_declare_the_limits_the_service_enforces(api: Api) -> None:
    setup_dossier(api)
    checked = 0
    for path, method, operation in _operations(api.client.application):
        for parameter in (p for p in operation["parameters"] if p["in"] == "path"):
            schema, name = parameter["schema"], parameter["name"]
            where = f"{method.upper()} {path} {name}"
            assert schema["maxLength"] <= 128 and schema["minLength"] >= 1, where
            assert schema["pattern"].startswith("^") and schema["pattern"].endswith("$"), where
            if name == "ps_id":
                assert schema == PROFESSIONAL_ID, where
            for bad in ["a b", "x" * (schema["maxLength"] + 1), "é"]:
                assert not Validator(schema).is_valid(bad), (where, bad)
                url = path.replace(f"{{{name}}}", quote(bad, safe=""))
                url = url.replace("{pid}", "P1").replace("{ps_id}", "810000000002")
                url = url.replace("{person_id}", "R1").replace("{doc_id}", "bio")
                response = api.call("holder", method.upper(), url, {})
                assert response.status_code == 422, (where, bad, response.get_json())
                assert response.get_json()["field"] == name, (where, bad)
                checked += 1
    assert checked == 3 * 33  # 33 path parameters in all


def test_type_code_lists_the_types_the_engine_accepts(api: Api) -> None:
    engine = api.client.application.extensions["vigie"].engine
    accepted = sorted(engine.tables.document_types)
    seen = 0
    for path, _method, operation in _operations(api.client.application):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body and "type_code" in body["schema"]["properties"]:
            assert body["schema"]["properties"]["type_code"]["enum"] == accepted, path
            seen += 1
    assert seen == 2  # POST /v1/decisions, POST /v1/dossiers/{pid}/documents
    assert not set(engine.tables.refused) & set(accepted)
    for code in accepted:
        engine.check_type(code)
    setup_dossier(api)
    before = _state(api)
    for code in ["NOT-A-TYPE", next(iter(engine.tables.refused))]:
        document = {"document_id": "new", "type_code": code}
        response = api.call("mt", "POST", "/v1/dossiers/P1/documents", document)
        assert response.status_code == 422 and response.get_json()["field"] == "type_code"
    assert _state(api) == before


RATE_LIMITED = [
    ("post", "/v1/decisions"),
    ("post", "/v1/decisions/batch"),
    ("post", "/v1/dossiers/{pid}/documents"),
    ("get", "/v1/dossiers/{pid}/traces/export"),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_429_is_documented_where_rate_limits_apply(
    settings: Settings, database: Any, key_files: KeyFiles, tmp_path: Path
) -> None:
    one_an_hour = {"break_glass_rate_count": "1,requests", "break_glass_rate_window": "1,hours"}
    app = create_app(
        replace(settings, policy_dir=copy_policy(tmp_path, **one_an_hour)),
        database=database,
        configure_logs=False,
    )
    api = Api(app.test_client(), key_files)
    documented = {(m, p) for p, m, op in _operations(app) if "429" in op["responses"]}
    assert documented == set(RATE_LIMITED)
    setup_dossier(api)
    glass = {"mode": "break_glass", "justification": "patient inconscient aux urgences"}
    assert api.decide("stranger", "P1", "dossier.read", **glass)["decision"] == "permit"
    response = api.call(
        "stranger", "POST", "/v1/decisions", {"patient_id": "P1", "action": "dossier.read", **glass}
    )
    assert response.status_code == 429 and response.mimetype == "application/problem+json"
    operation = app.test_client().get("/openapi.json").get_json()["paths"]["/v1/decisions"]["post"]
    schema = operation["responses"]["429"]["content"]["application/problem+json"]["schema"]
    jsonschema.validate(response.get_json(), schema)
    assert response.get_json()["reason"] == "rate.limited"
