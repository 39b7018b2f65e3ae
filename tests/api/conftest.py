"""Fixtures of the HTTP tests: real keys, real signed tokens, a real database (SQLite, then
PostgreSQL) behind ``create_app``; ``api`` wraps Flask's test client with an actor per call."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from api.config import Settings
from api.demo import write_ed25519
from api.token import issue_token
from models.database import Database

CAST: dict[str, dict[str, Any]] = {
    "holder": {"sub": "P1", "actor_type": "patient", "name": "Claire Martin"},
    "other_patient": {"sub": "P2", "actor_type": "patient"},
    "minor": {"sub": "M1", "actor_type": "patient"},
    "rep": {"sub": "R1", "actor_type": "representative", "name": "Sophie Martin"},
    "mt": {
        "sub": "810000000001",
        "actor_type": "professional",
        "profession": "10",
        "name": "Dr Bernard",
    },
    "gp2": {"sub": "810000000002", "actor_type": "professional", "profession": "10"},
    "nurse": {"sub": "899700218896", "actor_type": "professional", "profession": "60"},
    "stranger": {"sub": "810000000006", "actor_type": "professional", "profession": "10"},
    "blocked": {"sub": "810000000007", "actor_type": "professional", "profession": "10"},
    "regulator": {
        "sub": "810000000008",
        "actor_type": "professional",
        "profession": "10",
        "roles": ["samu_regulator"],
    },
    "opposed": {"sub": "810000000011", "actor_type": "professional", "profession": "10"},
    "agent": {"sub": "AGENT-1", "actor_type": "agent"},
    "feed": {"sub": "CNAM-REMB", "actor_type": "system"},
    "auditor": {"sub": "AUD-1", "actor_type": "auditor"},
}
ISSUER, AUDIENCE = "vigie-test-idp", "vigie-test"


@dataclass(frozen=True)
class KeyFiles:
    folder: Path
    idp_private: Ed25519PrivateKey
    jwt_keys: Path
    ledger_key: Path
    secret: Path


@pytest.fixture(scope="session")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    folder = tmp_path_factory.mktemp("keys")
    idp = write_ed25519(folder / "idp-private.pem")
    (folder / "idp-public.pem").write_bytes(
        idp.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    write_ed25519(folder / "ledger.pem")
    (folder / "patient-ref.secret").write_text("a" * 64)
    return KeyFiles(
        folder, idp, folder / "idp-public.pem", folder / "ledger.pem", folder / "patient-ref.secret"
    )


def serve_env(folder: Path, keys: KeyFiles) -> dict[str, str]:
    """The environment of a ``vigie serve`` subprocess on a migrated SQLite file in ``folder``
    (this process's VIGIE_* variables left out)."""
    url = f"sqlite:///{folder / 'vigie.db'}"
    database = Database(url)
    database.upgrade()
    database.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(
        VIGIE_DATABASE_URL=url,
        VIGIE_JWT_KEYS=str(keys.jwt_keys),
        VIGIE_LEDGER_KEY=str(keys.ledger_key),
        VIGIE_PATIENT_REF_SECRET=str(keys.secret),
        VIGIE_JWT_ISSUER=ISSUER,
        VIGIE_JWT_AUDIENCE=AUDIENCE,
    )
    return env


def settings_for(db_url: str, keys: KeyFiles) -> Settings:
    return Settings(
        database_url=db_url,
        jwt_keys=keys.jwt_keys,
        ledger_key=keys.ledger_key,
        patient_ref_secret=keys.secret,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )


@pytest.fixture(scope="module")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One migrated SQLite database for a test module whose tests only need a store to
    exist (authentication, token lifetimes): each module gets its own."""
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('module') / 'vigie.db'}")
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def settings(db_url: str, key_files: KeyFiles) -> Settings:
    return settings_for(db_url, key_files)


@pytest.fixture
def app(settings: Settings, database: Any) -> Flask:
    return create_app(settings, database=database, configure_logs=False)


class Api:
    """The test client, speaking as one of ``CAST`` per call."""

    def __init__(self, client: FlaskClient, keys: KeyFiles) -> None:
        self.client = client
        self.keys = keys

    def token(self, who: str, **overrides: Any) -> str:
        claims = {**CAST[who], **overrides}
        return issue_token(self.keys.idp_private, claims, issuer=ISSUER, audience=AUDIENCE)

    def call(self, who: str | None, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.token(who)}"
        return self.client.open(path, method=method, json=body, headers=headers, **kw)

    def decide(self, who: str, patient: str, action: str, **fields: Any) -> Any:
        response = self.call(
            who, "POST", "/v1/decisions", {"patient_id": patient, "action": action, **fields}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def create_dossier(self, patient: str = "P1") -> None:
        """The agent opens ``patient``'s dossier with the patient's consent."""
        body = {"patient_id": patient, "consent": True}
        assert self.call("agent", "POST", "/v1/dossiers", body).status_code == 201

    def break_glass(self, action: str, justification: str, **fields: Any) -> Any:
        """``stranger`` (neither authorised nor blocked) breaks the glass on P1's dossier."""
        return self.decide(
            "stranger", "P1", action, mode="break_glass", justification=justification, **fields
        )


@pytest.fixture
def api(app: Flask, key_files: KeyFiles) -> Iterator[Api]:
    return Api(app.test_client(), key_files)


def ps(who: str) -> str:
    return str(CAST[who]["sub"])


def setup_dossier(api: Api) -> None:
    """P1: treating doctor mt; authorised gp2, nurse, blocked, opposed; blocked 'blocked';
    feeding opposition for 'opposed'; documents by gp2 (bio), mt (psy, masked report)."""
    api.create_dossier()
    for path, body in [
        ("/v1/dossiers/P1/treating-doctor", {"professional_id": ps("mt")}),
        (f"/v1/dossiers/P1/authorizations/{ps('gp2')}", None),
        (f"/v1/dossiers/P1/authorizations/{ps('nurse')}", None),
        (f"/v1/dossiers/P1/authorizations/{ps('blocked')}", None),
        (f"/v1/dossiers/P1/authorizations/{ps('opposed')}", None),
        (f"/v1/dossiers/P1/blocks/{ps('blocked')}", None),
        (f"/v1/dossiers/P1/oppositions/{ps('opposed')}", {"reason": "conflit"}),
    ]:
        response = api.call("holder", "PUT", path, body)
        assert response.status_code == 200, (path, response.get_json())
    for who, document in [
        ("gp2", {"document_id": "bio", "type_code": "11502-2"}),
        ("mt", {"document_id": "psy", "type_code": "68599-0"}),
        ("gp2", {"document_id": "masked", "type_code": "11488-4", "masked": True}),
    ]:
        response = api.call(who, "POST", "/v1/dossiers/P1/documents", document)
        assert response.status_code == 201, response.get_json()


# -- the broker and the SMTP sink (``vigie notify``) ------------------------------------------

AMQP_URL = os.environ.get("VIGIE_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2F")


@pytest.fixture
def broker() -> Iterator[Any]:
    """Broker settings naming an exchange and a queue of this test only (unique suffix), on
    the machine's RabbitMQ; both are deleted afterwards. Skipped when RabbitMQ does not
    answer, except in CI."""
    import uuid

    import pika

    from api.broker import BrokerSettings

    name = f"vigie.test.{uuid.uuid4().hex[:12]}"
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except Exception as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"RabbitMQ unreachable at {AMQP_URL} in CI: {exc}")
        pytest.skip(f"RabbitMQ unreachable: {exc}")
    try:
        yield BrokerSettings(AMQP_URL, name, name)
    finally:
        channel = connection.channel()
        channel.queue_delete(name)
        channel.exchange_delete(name)
        connection.close()


def queued(settings: Any) -> list[tuple[Any, dict[str, Any]]]:
    """Every message now in the test's queue (taken off it): (properties, parsed body)."""
    import json

    import pika

    connection = pika.BlockingConnection(pika.URLParameters(settings.url))
    try:
        channel = connection.channel()
        out = []
        while True:
            method, properties, body = channel.basic_get(settings.queue, auto_ack=True)
            if method is None:
                return out
            out.append((properties, json.loads(body)))
    finally:
        connection.close()


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1:``port`` keeping what it receives."""

    port: int
    messages: list[Any]


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
            received.append(parsed)
            return "250 OK"

    for port in range(18900, 19000):  # this issue's port range
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpSink(port, received)
    finally:
        controller.stop()
