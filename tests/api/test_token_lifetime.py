"""VIGIE_JWT_MAX_LIFETIME: a signed token that claims to live longer than the maximum
(``exp - iat``, or ``exp - now`` when ``iat`` is ahead) is a 401 problem naming the limit,
and nothing is recorded. Real Ed25519 signatures throughout."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import jwt
import pytest
from flask import Flask

from api.app import create_app
from api.token import issue_token
from models.database import Database
from tests.api.conftest import AUDIENCE, CAST, ISSUER, KeyFiles, settings_for

HOLDER = CAST["holder"]


def app_with(database: Database, key_files: KeyFiles, **settings: Any) -> Flask:
    base = settings_for(database.engine.url.render_as_string(hide_password=False), key_files)
    return create_app(replace(base, **settings), database=database, configure_logs=False)


def ledger_size(app: Flask) -> int:
    with app.extensions["vigie"].database.read_only() as uow:
        return int(uow.ledger.head().size)


def post(app: Flask, token: str) -> Any:
    return app.test_client().post(
        "/v1/decisions",
        json={"patient_id": "P1", "action": "dossier.read"},
        headers={"Authorization": f"Bearer {token}"},
    )


def signed(key_files: KeyFiles, **claims: Any) -> str:
    now = int(time.time())
    payload = {**HOLDER, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 60}
    payload.update(claims)
    return jwt.encode(payload, key_files.idp_private, algorithm="EdDSA")


def assert_too_long(app: Flask, token: str) -> None:
    before = ledger_size(app)
    answer = post(app, token)
    assert answer.status_code == 401, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    problem = answer.get_json()
    assert "VIGIE_JWT_MAX_LIFETIME" in problem["detail"], problem
    assert ledger_size(app) == before


def test_the_default_is_12_hours(sqlite_database: Database, key_files: KeyFiles) -> None:
    app = app_with(sqlite_database, key_files)
    twelve = issue_token(
        key_files.idp_private, HOLDER, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=12 * 3600
    )
    assert post(app, twelve).status_code == 200  # what `vigie demo` hands out
    longer = issue_token(
        key_files.idp_private, HOLDER, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=12 * 3600 + 1
    )
    assert_too_long(app, longer)
    now = int(time.time())
    assert_too_long(app, signed(key_files, exp=10**30))  # the probe's token
    assert_too_long(app, signed(key_files, exp=float(10**30)))
    assert_too_long(
        app, signed(key_files, iat=now - 30 * 86400, nbf=now - 30 * 86400, exp=now + 60)
    )


def test_exp_is_bounded_from_now_when_iat_is_ahead(
    sqlite_database: Database, key_files: KeyFiles
) -> None:
    """An ``iat`` in the future within the leeway cannot stretch the lifetime."""
    app = app_with(sqlite_database, key_files, jwt_max_lifetime=600)
    now = int(time.time())
    assert post(app, signed(key_files, iat=now + 50, nbf=now, exp=now + 650)).status_code == 200
    assert_too_long(app, signed(key_files, iat=now + 50, nbf=now, exp=now + 50 + 601))


def test_a_configured_maximum(sqlite_database: Database, key_files: KeyFiles) -> None:
    app = app_with(sqlite_database, key_files, jwt_max_lifetime=300)
    ok = issue_token(
        key_files.idp_private, HOLDER, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=300
    )
    assert post(app, ok).status_code == 200
    long = issue_token(
        key_files.idp_private, HOLDER, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=301
    )
    assert_too_long(app, long)
    problem = post(app, long).get_json()
    assert "300 s" in problem["detail"]


@pytest.mark.parametrize("bad", ["1900000000", True, None, [1]])
def test_exp_and_iat_must_be_numbers(
    sqlite_database: Database, key_files: KeyFiles, bad: Any
) -> None:
    """A string or boolean NumericDate (which PyJWT lets through as ``int()``-able) is a 401,
    never a 500."""
    app = app_with(sqlite_database, key_files)
    for claim in ("iat", "exp"):
        token = signed(key_files, **{claim: bad})
        answer = post(app, token)
        assert answer.status_code == 401, (claim, bad, answer.get_data(as_text=True))
        assert answer.mimetype == "application/problem+json"
