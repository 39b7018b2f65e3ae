"""Schemathesis against /openapi.json, in process (the WSGI app on SQLite): every operation,
bounded examples each, a valid token for each actor type in turn. No answer may be a 5xx, and
every answer must match its declared status, content type and schema."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.token import issue_token
from tests.api.conftest import AUDIENCE, CAST, ISSUER, Api, KeyFiles, ps, setup_dossier

EXAMPLES = 10  # per operation: ~25 operations, ~250 cases
ACTORS = ["holder", "rep", "mt", "gp2", "nurse", "stranger", "regulator", "agent", "feed",
          "auditor"]  # fmt: skip
# Known ids substituted into some cases' path parameters, so fuzzing reaches past "not found".
KNOWN = {
    "pid": ["P1"],
    "ps_id": [ps("gp2"), ps("nurse"), ps("stranger"), ps("blocked")],
    "person_id": ["R1"],
    "doc_id": ["bio", "psy", "masked"],
}
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def fuzz_target(module_app: Flask, key_files: KeyFiles) -> dict[str, Any]:
    setup_dossier(Api(module_app.test_client(), key_files))
    tokens = {
        who: issue_token(key_files.idp_private, CAST[who], issuer=ISSUER, audience=AUDIENCE)
        for who in ACTORS
    }
    return {"app": module_app, "tokens": tokens, "turn": itertools.count()}


@pytest.mark.slow
def test_every_operation_conforms(fuzz_target: dict[str, Any]) -> None:
    """Each operation of /openapi.json gets EXAMPLES generated cases (Hypothesis, through
    schemathesis' strategies); failures of every operation are collected, then reported."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_target["app"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures: list[str] = []
    calls: Counter[str] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            turn = next(fuzz_target["turn"])
            who = ACTORS[turn % len(ACTORS)]
            if case.path_parameters and turn % 2 == 0:
                for name in list(case.path_parameters):
                    if name in KNOWN:
                        options = KNOWN[name]
                        case.path_parameters[name] = options[turn // 2 % len(options)]
            headers = {"Authorization": f"Bearer {fuzz_target['tokens'][who]}"}
            response = case.call(headers=headers)
            calls[str(response.status_code)] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group
            failures.append(f"{operation.label}: {_summary(exc)}")
    print(f"{sum(calls.values())} calls over {len(operations)} operations: {dict(calls)}")
    assert not failures, "\n\n".join(failures)


def _summary(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if isinstance(exc, BaseExceptionGroup):
        lines += [f"  {type(e).__name__}: {str(e).strip()[:300]}" for e in exc.exceptions]
    return "\n".join(lines[:40])
