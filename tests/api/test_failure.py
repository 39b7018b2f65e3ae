"""Fail closed: when the store fails, nothing is permitted and nothing half-written stays."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import sqlalchemy

from api.app import create_app
from models.database import Database
from tests.api.conftest import Api, KeyFiles, settings_for, setup_dossier


def test_unreachable_database_answers_503_never_a_permit(key_files: KeyFiles) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    app = create_app(
        settings_for(url, key_files),
        database=Database(url, connect_timeout_s=1),
        configure_logs=False,
    )
    api = Api(app.test_client(), key_files)
    response = api.call(
        "nurse",
        "POST",
        "/v1/decisions",
        {"patient_id": "P1", "action": "document.read", "document_id": "bio"},
    )
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "decision" not in response.get_json()
    assert api.call(None, "GET", "/readyz").status_code == 503
    assert api.call(None, "GET", "/healthz").status_code == 200


def test_a_failure_after_the_entry_rolls_back_state_and_entry(api: Api, database: Any) -> None:
    setup_dossier(api)
    with database.read_only() as uow:
        before = uow.ledger.head().size
    with database.engine.begin() as connection:  # the outbox breaks: the notification write fails
        connection.execute(sqlalchemy.text("DROP TABLE notifications"))
    response = api.call(
        "gp2", "POST", "/v1/dossiers/P1/documents", {"document_id": "late", "type_code": "11488-4"}
    )
    assert response.status_code == 503
    with database.read_only() as uow:
        assert uow.ledger.head().size == before
        assert "late" not in uow.dossiers.documents("P1")
    # a request with no obligation still works and is recorded
    quiet = api.decide("gp2", "P1", "document.read", document_id="bio")
    assert quiet["trace"]["seq"] == before


def test_checkpoints_follow_the_entries(settings: Any, database: Any, key_files: KeyFiles) -> None:
    fast = dataclasses.replace(settings, checkpoint_interval=0.1)
    app = create_app(fast, database=database, configure_logs=False, background=True)
    api = Api(app.test_client(), key_files)
    setup_dossier(api)
    last = api.decide("nurse", "P1", "document.read", document_id="bio")["trace"]["seq"]
    deadline = time.monotonic() + 5
    size = 0
    while time.monotonic() < deadline:
        note = api.call(None, "GET", "/v1/ledger/checkpoint").get_data(as_text=True)
        size = int(note.splitlines()[1])
        if size == last + 1:
            break
        time.sleep(0.05)
    app.extensions["vigie.checkpointer"].stopped.set()
    assert size == last + 1
    with database.read_only() as uow:
        notes = uow.ledger.checkpoints()
    sizes = [int(note.splitlines()[1]) for note in notes]
    assert sizes == sorted(set(sizes)), "checkpoints only grow, never repeat"
