"""Operations: health, readiness (503 on an unmigrated schema), metrics, the OpenAPI document
against the app's real routes, request ids on every answer, and logs without secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from api.app import MAX_BODY, create_app
from api.token import issue_token
from models.database import Database
from tests.api.conftest import AUDIENCE, ISSUER, Api, KeyFiles, settings_for

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_and_readyz(api: Api) -> None:
    health = api.call(None, "GET", "/healthz")
    assert health.status_code == 200 and health.get_json()["status"] == "ok"
    ready = api.call(None, "GET", "/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["status"] == "ready"


def test_readyz_is_503_on_an_unmigrated_database(tmp_path: Path, key_files: KeyFiles) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    database = Database(url)  # never upgraded
    try:
        app = create_app(settings_for(url, key_files), database=database, configure_logs=False)
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert "vigie db upgrade" in response.get_json()["detail"]
        assert response.headers["Retry-After"]
        token = issue_token(
            key_files.idp_private,
            {"sub": "P1", "actor_type": "patient"},
            issuer=ISSUER,
            audience=AUDIENCE,
        )
        decision = client.post(
            "/v1/decisions",
            json={"patient_id": "P1", "action": "dossier.read"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert decision.status_code == 503, decision.get_data(as_text=True)
        assert decision.mimetype == "application/problem+json"
        database.upgrade()
        assert client.get("/readyz").status_code == 200
    finally:
        database.dispose()


def test_readyz_is_503_when_the_database_is_unreachable(key_files: KeyFiles) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/vigie"
    database = Database(url, connect_timeout_s=2)
    app = create_app(settings_for(url, key_files), database=database, configure_logs=False)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert response.headers["X-Request-Id"]


def metric_value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^([a-zA-Z_:]+)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return None


def test_metrics_count_decisions_and_ledger_entries(api: Api) -> None:
    api.decide("holder", "P1", "dossier.read")  # dossier.not_found: a deny, recorded
    api.decide("holder", "P1", "dossier.read")
    response = api.call(None, "GET", "/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert (
        metric_value(
            text,
            "vigie_decisions_total",
            action="dossier.read",
            decision="deny",
            reason="dossier.not_found",
        )
        == 2
    )
    assert metric_value(text, "vigie_ledger_entries") == 2
    assert (
        metric_value(text, "vigie_request_seconds_count", route="/v1/decisions", status="200") == 2
    )
    assert "P1" not in text


# -- the OpenAPI document -------------------------------------------------------------------

OPERATION_KEYS = {"get", "put", "post", "delete", "patch"}


def openapi(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document: dict[str, Any] = response.get_json()
    return document


def flask_routes(app: Flask) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method.lower() in OPERATION_KEYS:
                routes.add((path, method.lower()))
    return routes


def schemas_in(node: Any, where: str = "#") -> list[tuple[str, Any]]:
    """Every ``schema`` object of the document, with its JSON pointer."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}/{key}"
            if key == "schema":
                found.append((here, value))
            elif key == "schemas" and isinstance(value, dict):
                found += [(f"{here}/{name}", schema) for name, schema in value.items()]
            else:
                found += schemas_in(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += schemas_in(value, f"{where}/{index}")
    return found


def test_openapi_describes_every_route_and_is_well_formed(app: Flask) -> None:
    document = openapi(app)
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] and document["info"]["version"]
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in OPERATION_KEYS
    }
    served = flask_routes(app)
    v1 = {route for route in served if route[0].startswith("/v1/")}
    assert len(v1) >= 30
    assert v1 <= documented, f"routes missing from /openapi.json: {sorted(v1 - documented)}"
    assert documented <= served, f"documented but not served: {sorted(documented - served)}"
    operation_ids = []
    for path, item in document["paths"].items():
        declared = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation["responses"], where
            for status, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|default", status), where
                assert response["description"], where
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert params == declared, where
            for parameter in operation.get("parameters", []):
                assert parameter["in"] in {"path", "query", "header"}, where
                assert parameter["in"] != "path" or parameter["required"] is True, where
            if path.startswith("/v1/"):
                secured = operation.get("security")
                assert secured is not None, where
            operation_ids.append(operation["operationId"])
            if method in {"post", "put", "patch"} and "requestBody" in operation:
                content = operation["requestBody"]["content"]
                assert "application/json" in content, where
    assert len(operation_ids) == len(set(operation_ids)), "duplicate operationId"
    schemes = document["components"]["securitySchemes"]
    for operation in (op for item in document["paths"].values() for op in item.values()):
        for requirement in operation.get("security", []):
            assert set(requirement) <= set(schemes)
    # every schema compiles as JSON Schema 2020-12 (OpenAPI 3.1's dialect)
    schemas = schemas_in(document)
    assert len(schemas) > 40
    for pointer, schema in schemas:
        assert "$ref" not in json.dumps(schema), pointer
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            pytest.fail(f"{pointer}: {exc.message}")


def test_openapi_request_schemas_are_the_ones_enforced(api: Api) -> None:
    """The document is generated from the validating schemas: a body the document refuses
    is refused by the service with the same field."""
    document = openapi(api.client.application)
    schema = document["paths"]["/v1/decisions"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    validator = Draft202012Validator(schema)
    body = {"patient_id": "P1", "action": "dossier.read", "mode": "bogus"}
    assert not validator.is_valid(body)
    assert api.call("holder", "POST", "/v1/decisions", body).get_json()["field"] == "mode"
    assert validator.is_valid({"patient_id": "P1", "action": "dossier.read"})


# -- request ids ----------------------------------------------------------------------------


def test_request_id_is_echoed_or_made_on_every_answer(api: Api) -> None:
    given = "trace-" + uuid.uuid4().hex
    answers = [
        api.call(
            "holder",
            "POST",
            "/v1/decisions",
            {"patient_id": "P1", "action": "dossier.read"},
            headers={"X-Request-Id": given},
        ),
        api.call(
            None, "POST", "/v1/decisions", {"patient_id": "P1"}, headers={"X-Request-Id": given}
        ),
        api.call(None, "GET", "/nowhere", headers={"X-Request-Id": given}),
        api.call(
            "holder",
            "POST",
            "/v1/decisions",
            data="x" * (MAX_BODY + 1),
            headers={"X-Request-Id": given, "Content-Type": "application/json"},
        ),
        api.call(None, "GET", "/healthz", headers={"X-Request-Id": given}),
    ]
    assert [a.status_code for a in answers] == [200, 401, 404, 413, 200]
    for answer in answers:
        assert answer.headers["X-Request-Id"] == given
    for answer in answers[1:4]:
        assert answer.get_json()["request_id"] == given
    fresh = [
        api.call("holder", "POST", "/v1/decisions", {"patient_id": "P1", "action": "dossier.read"}),
        api.call(None, "POST", "/v1/decisions", {"patient_id": "P1"}),
        api.call(None, "GET", "/nowhere"),
        api.call(
            "holder",
            "POST",
            "/v1/decisions",
            data="x" * (MAX_BODY + 1),
            headers={"Content-Type": "application/json"},
        ),
        # a hostile id (header injection, too long) is replaced, never reflected
        api.call(None, "GET", "/healthz", headers={"X-Request-Id": "a b<script>"}),
        api.call(None, "GET", "/healthz", headers={"X-Request-Id": "x" * 500}),
    ]
    ids = [a.headers["X-Request-Id"] for a in fresh]
    for value in ids:
        assert uuid.UUID(value).version == 4
    assert len(set(ids)) == len(ids)


# -- logs -----------------------------------------------------------------------------------


LOGGED_PROCESS = """
import json, os, sys
from pathlib import Path
from api.app import create_app
from api.config import Settings
config = json.loads(os.environ["CONFIG"])
settings = Settings(database_url=config["url"], jwt_keys=Path(config["jwt_keys"]),
                    ledger_key=Path(config["ledger_key"]),
                    patient_ref_secret=Path(config["secret"]), jwt_issuer=config["iss"],
                    jwt_audience=config["aud"], log_level="INFO")
client = create_app(settings).test_client()
statuses = []
for token, method, path, body in config["calls"]:
    response = client.open(path, method=method, json=body,
                           headers={"Authorization": "Bearer " + token})
    statuses.append(response.status_code)
print(json.dumps(statuses))
"""


def test_info_logs_hold_neither_tokens_nor_patient_data(
    db_url: str, database: Database, key_files: KeyFiles
) -> None:
    """A fresh process configures its logs (JSON lines on stderr) and serves a dossier's
    story; its stderr never holds a token, a patient or document id, a name or a reason."""
    patient, document = "PATIENT-SECRET-42", "DOC-SECRET-7"
    justification = "Patiente inconsciente SECRET-JUSTIF"

    def token(claims: dict[str, Any], **kw: Any) -> str:
        return issue_token(key_files.idp_private, claims, issuer=ISSUER, audience=AUDIENCE, **kw)

    agent = token({"sub": "AGENT-1", "actor_type": "agent"})
    doctor = token(
        {
            "sub": "810000000001",
            "actor_type": "professional",
            "profession": "10",
            "name": "Dr SECRET-NAME",
        }
    )
    expired = token({"sub": patient, "actor_type": "patient"}, ttl_seconds=1, now=0)
    calls = [
        (agent, "POST", "/v1/dossiers", {"patient_id": patient, "consent": True}),
        (
            doctor,
            "POST",
            f"/v1/dossiers/{patient}/documents",
            {"document_id": document, "type_code": "11488-4"},
        ),
        (
            doctor,
            "POST",
            "/v1/decisions",
            {
                "patient_id": patient,
                "action": "document.read",
                "document_id": document,
                "mode": "break_glass",
                "justification": justification,
            },
        ),
        (expired, "POST", "/v1/decisions", {"patient_id": patient, "action": "dossier.read"}),
        (doctor, "POST", "/v1/decisions", {"patient_id": patient, "action": "bogus"}),
        (agent, "GET", f"/v1/dossiers/{patient}/traces", None),
        (doctor, "PUT", f"/v1/dossiers/{patient}/oppositions/{patient}", {"reason": "SECRET"}),
    ]
    config = {
        "url": db_url,
        "jwt_keys": str(key_files.jwt_keys),
        "ledger_key": str(key_files.ledger_key),
        "secret": str(key_files.secret),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "calls": calls,
    }
    done = subprocess.run(
        [sys.executable, "-c", LOGGED_PROCESS],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "CONFIG": json.dumps(config)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    statuses = json.loads(done.stdout.strip().splitlines()[-1])
    assert statuses[0] == 201 and statuses[2] == 200 and statuses[3] == 401, statuses
    assert statuses[4] == 422, statuses
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # JSON lines only
    requests = [e for e in events if e["event"] == "request"]
    assert len(requests) == len(calls)
    assert all(e["level"] == "info" and e["request_id"] for e in requests)
    assert [e["status"] for e in requests] == statuses
    for secret in (
        patient,
        document,
        justification,
        "SECRET",
        agent,
        doctor,
        expired,
        agent.split(".")[1],
        doctor.split(".")[2],
    ):
        assert secret not in done.stderr, f"{secret[:20]}… appears in the logs"
