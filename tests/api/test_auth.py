"""Bearer tokens (API.md "Authentication"): every bad token is a 401 problem with
``WWW-Authenticate`` and leaves the ledger untouched; the accepted key types and key files work.

Tokens are real: signed with real keys by PyJWT, or crafted byte by byte where PyJWT refuses
to make them (``alg: none``, HS256 keyed with the public PEM, headers of the wrong type).

Decision recorded here: a professional whose ``profession`` claim is not a TRE_G15 code of
``policy/professions.csv`` gets a **401**, not a 422. The token (not the body) is at fault, the
caller cannot fix it by changing the request, and API.md says a token without the claims its
actor type needs is a 401; a 422 would also name a ``field`` that is not in the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from api import auth
from api.app import create_app
from api.config import ConfigError, Settings, load_token_keys
from api.token import issue_token
from models.database import Database
from tests.api.conftest import AUDIENCE, ISSUER, KeyFiles, settings_for

PATIENT = {"sub": "P1", "actor_type": "patient"}
DOCTOR = {"sub": "810000000001", "actor_type": "professional", "profession": "10"}
DECISION = {"patient_id": "P1", "action": "dossier.read"}


# -- crafting tokens by hand ----------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64url(json.dumps(value).encode())


def crafted(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{segment(header)}.{segment(payload)}.{b64url(signature)}"


def claims(now: float | None = None, **overrides: Any) -> dict[str, Any]:
    """A complete, valid claim set for the patient P1; ``overrides`` set or (None) drop."""
    issued = int(time.time() if now is None else now)
    full = {
        **PATIENT,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": issued,
        "nbf": issued,
        "exp": issued + 600,
    }
    full.update(overrides)
    return {k: v for k, v in full.items() if v is not None}


def public_pem(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


# -- the app and its ledger -----------------------------------------------------------------


def ledger_size(app: Flask) -> int:
    with app.extensions["vigie"].database.read_only() as uow:
        return int(uow.ledger.head().size)


def post_with(client: FlaskClient, authorization: str | None) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    return client.post("/v1/decisions", json=DECISION, headers=headers)


def assert_rejected(app: Flask, authorization: str | None) -> dict[str, Any]:
    before = ledger_size(app)
    response = post_with(app.test_client(), authorization)
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    problem: dict[str, Any] = response.get_json()
    assert problem["status"] == 401 and problem["title"] and problem["detail"]
    assert ledger_size(app) == before, "a request that failed authentication was recorded"
    return problem


def assert_accepted(app: Flask, token: str) -> None:
    before = ledger_size(app)
    response = post_with(app.test_client(), f"Bearer {token}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["trace"]["seq"] == before
    assert ledger_size(app) == before + 1


@pytest.fixture(scope="module")
def app(sqlite_database: Database, key_files: KeyFiles) -> Flask:
    """One app on SQLite for the table of bad tokens (authentication never touches the
    database before it succeeds; the both-backends test below checks that claim)."""
    return create_app(
        settings_for(sqlite_database.engine.url.render_as_string(hide_password=False), key_files),
        database=sqlite_database,
        configure_logs=False,
    )


def app_with_keys(database: Database, key_files: KeyFiles, jwt_keys: Path) -> Flask:
    settings = Settings(
        database_url=str(database.engine.url),
        jwt_keys=jwt_keys,
        ledger_key=key_files.ledger_key,
        patient_ref_secret=key_files.secret,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )
    return create_app(settings, database=database, configure_logs=False)


# -- the table of bad tokens ----------------------------------------------------------------

Maker = Callable[[KeyFiles], str | None]
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_ED25519 = Ed25519PrivateKey.generate()


def signed(**overrides: Any) -> Maker:
    """A token signed by the right key, with ``claims(**overrides)`` made at call time."""
    return lambda keys: (
        "Bearer " + jwt.encode(claims(**overrides), keys.idp_private, algorithm="EdDSA")
    )


def hs256_with_public_pem(keys: KeyFiles) -> str:
    header = segment({"alg": "HS256", "typ": "JWT"})
    body = segment(claims())
    secret = keys.jwt_keys.read_bytes()
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"Bearer {header}.{body}.{b64url(mac)}"


def embedded_jwk(keys: KeyFiles) -> str:
    """The attacker's own key in the ``jwk`` header (CVE-2018-0114 style): must be ignored."""
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(OTHER_ED25519.public_key()))
    return "Bearer " + jwt.encode(claims(), OTHER_ED25519, algorithm="EdDSA", headers={"jwk": jwk})


BAD_TOKENS: dict[str, Maker] = {
    "no header": lambda keys: None,
    "empty header": lambda keys: "",
    "basic scheme": lambda keys: "Basic dXNlcjpwYXNzd29yZA==",
    "token scheme": lambda keys: (
        "Token " + issue_token(keys.idp_private, PATIENT, issuer=ISSUER, audience=AUDIENCE)
    ),
    "bearer without token": lambda keys: "Bearer",
    "bearer blank": lambda keys: "Bearer    ",
    "garbage": lambda keys: "Bearer not-a-jwt",
    "garbage three parts": lambda keys: "Bearer abc.def.ghi",
    "header not an object": lambda keys: f"Bearer {segment([1])}.{segment(claims())}.",
    "payload not json": lambda keys: f"Bearer {segment({'alg': 'EdDSA'})}.{b64url(b'{')}.AA",
    "expired beyond leeway": lambda keys: (
        "Bearer "
        + issue_token(
            keys.idp_private,
            PATIENT,
            issuer=ISSUER,
            audience=AUDIENCE,
            ttl_seconds=600,
            now=time.time() - 600 - 90,
        )
    ),
    "nbf beyond leeway": lambda keys: (
        "Bearer "
        + issue_token(
            keys.idp_private, PATIENT, issuer=ISSUER, audience=AUDIENCE, now=time.time() + 120
        )
    ),
    "nbf not a number": signed(nbf="soon"),
    "exp not a number": signed(exp="tomorrow"),
    "alg none": lambda keys: "Bearer " + crafted({"alg": "none", "typ": "JWT"}, claims()),
    "alg None": lambda keys: "Bearer " + crafted({"alg": "None"}, claims()),
    "alg missing": lambda keys: "Bearer " + crafted({"typ": "JWT"}, claims()),
    "alg as a list": lambda keys: "Bearer " + crafted({"alg": ["EdDSA"]}, claims(), b"x" * 64),
    "alg as an object": lambda keys: "Bearer " + crafted({"alg": {"EdDSA": 1}}, claims()),
    "hs256 with the public pem": hs256_with_public_pem,
    "rs256 against an ed25519 key": lambda keys: (
        "Bearer " + jwt.encode(claims(), RSA_KEY, algorithm="RS256")
    ),
    "es256 against an ed25519 key": lambda keys: (
        "Bearer " + jwt.encode(claims(), EC_KEY, algorithm="ES256")
    ),
    "another ed25519 key": lambda keys: (
        "Bearer " + issue_token(OTHER_ED25519, PATIENT, issuer=ISSUER, audience=AUDIENCE)
    ),
    "embedded jwk header": embedded_jwk,
    "signature stripped": lambda keys: (
        "Bearer "
        + issue_token(keys.idp_private, PATIENT, issuer=ISSUER, audience=AUDIENCE).rsplit(".", 1)[0]
        + "."
    ),
    "payload swapped": lambda keys: (
        "Bearer "
        + ".".join(
            [
                issue_token(keys.idp_private, PATIENT, issuer=ISSUER, audience=AUDIENCE).split(".")[
                    0
                ],
                segment(claims(sub="P2")),
                issue_token(keys.idp_private, PATIENT, issuer=ISSUER, audience=AUDIENCE).split(".")[
                    2
                ],
            ]
        )
    ),
    "wrong iss": lambda keys: (
        "Bearer " + issue_token(keys.idp_private, PATIENT, issuer="evil-idp", audience=AUDIENCE)
    ),
    "wrong aud": lambda keys: (
        "Bearer " + issue_token(keys.idp_private, PATIENT, issuer=ISSUER, audience="other-service")
    ),
    "missing exp": signed(exp=None),
    "missing iat": signed(iat=None),
    "missing iss": signed(iss=None),
    "missing aud": signed(aud=None),
    "missing sub": signed(sub=None),
    "empty sub": signed(sub=""),
    "sub not a string": signed(sub=42),
    "sub over 128 characters": signed(sub="8" * 129),
    "sub with a NUL": signed(sub="P1\x00"),
    "missing actor_type": signed(actor_type=None),
    "unknown actor_type": signed(actor_type="superuser"),
    "actor_type as a list": signed(actor_type=["patient"]),
    "professional without profession": signed(**{**DOCTOR, "profession": None}),
    "professional with empty profession": signed(**{**DOCTOR, "profession": ""}),
    "professional with unknown profession": signed(**{**DOCTOR, "profession": "9999"}),
    "profession not a string": signed(**{**DOCTOR, "profession": 10}),
    "roles not a list": signed(roles="samu_regulator"),
    "name not a string": signed(name={"first": "Claire"}),
    "oversized token": lambda keys: (
        "Bearer "
        + issue_token(
            keys.idp_private, {**PATIENT, "name": "x" * 9000}, issuer=ISSUER, audience=AUDIENCE
        )
    ),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_token_is_a_401_problem_and_records_nothing(
    app: Flask, key_files: KeyFiles, case: str
) -> None:
    authorization = BAD_TOKENS[case](key_files)
    problem = assert_rejected(app, authorization)
    token = (authorization or "").partition(" ")[2].strip()
    assert len(token) < 8 or token not in json.dumps(problem), "the problem echoes the token"


def test_the_oversized_token_is_refused_for_its_size(app: Flask, key_files: KeyFiles) -> None:
    token = BAD_TOKENS["oversized token"](key_files)
    assert token is not None and len(token) > 8192
    assert "too large" in assert_rejected(app, token)["detail"]


def test_leeway_is_60_seconds(app: Flask, key_files: KeyFiles) -> None:
    key = key_files.idp_private
    just_expired = issue_token(
        key, PATIENT, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=600, now=time.time() - 600 - 30
    )
    assert_accepted(app, just_expired)
    slightly_early = issue_token(
        key, PATIENT, issuer=ISSUER, audience=AUDIENCE, now=time.time() + 30
    )
    assert_accepted(app, slightly_early)
    no_nbf = jwt.encode(claims(nbf=None), key, algorithm="EdDSA")
    assert_accepted(app, no_nbf)


def test_a_verified_token_still_expires(
    app: Flask, key_files: KeyFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second use of a token skips the signature check but not the expiry."""
    now = time.time()
    token = issue_token(
        key_files.idp_private, PATIENT, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=5, now=now
    )
    assert_accepted(app, token)
    assert_accepted(app, token)  # from the verified-token cache
    monkeypatch.setattr(auth.time, "time", lambda: now + 5 + 61)
    assert "expired" in assert_rejected(app, f"Bearer {token}")["detail"]


def test_the_verified_token_cache_is_bounded_and_keeps_only_accepted_tokens(
    key_files: KeyFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "VERIFIED_CACHE_SIZE", 3)
    verifier = auth.TokenVerifier(load_token_keys(key_files.jwt_keys), ISSUER, AUDIENCE)
    tokens = [
        issue_token(
            key_files.idp_private, {**PATIENT, "sub": f"P{i}"}, issuer=ISSUER, audience=AUDIENCE
        )
        for i in range(5)
    ]
    for token in tokens:
        assert verifier.actor(f"Bearer {token}")[0].id == f"P{tokens.index(token)}"
    assert list(verifier._verified) == tokens[2:]  # the oldest went first
    forged = tokens[4][:-4] + ("AAAA" if not tokens[4].endswith("AAAA") else "BBBB")
    with pytest.raises(auth.AuthenticationError):
        verifier.actor(f"Bearer {forged}")
    assert forged not in verifier._verified


def test_a_good_token_is_recorded_with_its_actor(app: Flask, key_files: KeyFiles) -> None:
    token = issue_token(
        key_files.idp_private,
        {**DOCTOR, "roles": ["samu_regulator"]},
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    assert_accepted(app, token)
    with app.extensions["vigie"].database.read_only() as uow:
        size = uow.ledger.head().size
        (entry,) = uow.ledger.entries(size - 1, 1)
    assert entry.payload_dict()["actor_id"] == DOCTOR["sub"]


@pytest.mark.parametrize(
    "case",
    [
        "alg none",
        "hs256 with the public pem",
        "sub over 128 characters",
        "sub with a NUL",
        "professional with unknown profession",
        "expired beyond leeway",
    ],
)
def test_bad_tokens_on_both_backends(
    settings: Settings, database: Database, key_files: KeyFiles, case: str
) -> None:
    app = create_app(settings, database=database, configure_logs=False)
    assert_rejected(app, BAD_TOKENS[case](key_files))
    assert_accepted(
        app, issue_token(key_files.idp_private, PATIENT, issuer=ISSUER, audience=AUDIENCE)
    )


# -- key files: JWKS with kids, PEM RSA and EC -----------------------------------------------


def jwk_of(kid: str, key: Any) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(key, rsa.RSAPrivateKey):
        text = jwt.algorithms.RSAAlgorithm.to_jwk(public)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        text = jwt.algorithms.ECAlgorithm.to_jwk(public)
    else:
        text = jwt.algorithms.OKPAlgorithm.to_jwk(public)
    return {**json.loads(text), "kid": kid}


@pytest.fixture(scope="module")
def jwks_app(
    sqlite_database: Database, key_files: KeyFiles, tmp_path_factory: pytest.TempPathFactory
) -> Flask:
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(
        json.dumps(
            {
                "keys": [
                    jwk_of("rsa-1", RSA_KEY),
                    jwk_of("ec-1", EC_KEY),
                    jwk_of("ed-1", key_files.idp_private),
                ]
            }
        )
    )
    return app_with_keys(sqlite_database, key_files, path)


@pytest.mark.parametrize(("kid", "key"), [("rsa-1", RSA_KEY), ("ec-1", EC_KEY), ("ed-1", None)])
def test_jwks_accepts_each_key_type_by_kid(
    jwks_app: Flask, key_files: KeyFiles, kid: str, key: Any
) -> None:
    private = key or key_files.idp_private
    token = issue_token(private, PATIENT, issuer=ISSUER, audience=AUDIENCE, kid=kid)
    assert jwt.get_unverified_header(token)["alg"] in {"RS256", "ES256", "EdDSA"}
    assert_accepted(jwks_app, token)


def jwks_bad(keys: KeyFiles) -> dict[str, str]:
    def ed(kid: Any) -> str:
        return jwt.encode(claims(), keys.idp_private, algorithm="EdDSA", headers={"kid": kid})

    return {
        "kid path traversal": ed("../../etc/passwd"),
        "kid absolute path": ed("/dev/null"),
        "kid unknown": ed("ed-2"),
        "kid sql": ed("' OR '1'='1"),
        "kid missing": jwt.encode(claims(), keys.idp_private, algorithm="EdDSA"),
        "kid as a list": crafted({"alg": "EdDSA", "kid": ["ed-1"]}, claims(), b"x" * 64),
        "kid of the rsa key, signed by ed25519": ed("rsa-1"),
        "kid of the ed25519 key, alg RS256": jwt.encode(
            claims(), RSA_KEY, algorithm="RS256", headers={"kid": "ed-1"}
        ),
        "kid of the rsa key, HS256 keyed with its modulus": _hs256_kid(keys),
        "kid of the ec key, signed by another ec key": jwt.encode(
            claims(),
            ec.generate_private_key(ec.SECP256R1()),
            algorithm="ES256",
            headers={"kid": "ec-1"},
        ),
    }


def _hs256_kid(keys: KeyFiles) -> str:
    header = segment({"alg": "HS256", "kid": "rsa-1"})
    body = segment(claims())
    secret = public_pem(RSA_KEY)
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(mac)}"


def test_jwks_rejects_kid_injection_and_mismatches(jwks_app: Flask, key_files: KeyFiles) -> None:
    for case, token in jwks_bad(key_files).items():
        before = ledger_size(jwks_app)
        response = post_with(jwks_app.test_client(), f"Bearer {token}")
        assert response.status_code == 401, case
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), case
        assert ledger_size(jwks_app) == before, case


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_pem_public_key_config(
    sqlite_database: Database, key_files: KeyFiles, tmp_path: Path, kind: str
) -> None:
    private = RSA_KEY if kind == "rsa" else EC_KEY
    (tmp_path / "idp.pem").write_bytes(public_pem(private))
    app = app_with_keys(sqlite_database, key_files, tmp_path / "idp.pem")
    assert_accepted(app, issue_token(private, PATIENT, issuer=ISSUER, audience=AUDIENCE))
    # the configured key decides the algorithm: the demo Ed25519 key no longer works
    assert_rejected(
        app,
        "Bearer " + issue_token(key_files.idp_private, PATIENT, issuer=ISSUER, audience=AUDIENCE),
    )
    if kind == "rsa":  # RS256 keyed by the RSA public key must not become HS256
        header = segment({"alg": "HS256"})
        body = segment(claims())
        mac = hmac.new(public_pem(private), f"{header}.{body}".encode(), hashlib.sha256).digest()
        assert_rejected(app, f"Bearer {header}.{body}.{b64url(mac)}")


def test_unusable_key_files_are_refused_with_one_line(tmp_path: Path) -> None:
    def refused(name: str, content: str | bytes) -> str:
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
        with pytest.raises(ConfigError) as caught:
            load_token_keys(path)
        message = str(caught.value)
        assert "\n" not in message and "VIGIE_JWT_KEYS" in message
        return message

    ed = jwk_of("ed-1", OTHER_ED25519)
    assert "no kid" in refused("nokid.json", json.dumps({"keys": [{**ed, "kid": ""}]}))
    private_jwk = {**json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(OTHER_ED25519)), "kid": "p"}
    assert "public key" in refused("private.json", json.dumps({"keys": [private_jwk]}))
    refused("hmac.json", json.dumps({"keys": [{"kty": "oct", "k": b64url(b"s" * 32), "kid": "h"}]}))
    assert "P-256" in refused("p384.pem", public_pem(ec.generate_private_key(ec.SECP384R1())))
    refused("empty.json", json.dumps({"keys": []}))
    refused("not-jwks.json", "{not json")
    refused("garbage.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    refused(
        "private.pem",
        OTHER_ED25519.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    with pytest.raises(ConfigError, match=r"absent\.pem"):
        load_token_keys(tmp_path / "absent.pem")
