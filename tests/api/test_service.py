"""api/service.py: the group commit of the service (``Service.handle`` over api/group_commit.py), on
both backends.

The test holds the append lock in its own unit of work while calls arrive from threads: the
first call's thread becomes the leader and waits for the lock, the others queue. Once the lock
is released the leader takes every waiting call into ONE transaction (one entry time, seqs in
a row). Within it, facts read ahead must still follow what earlier calls of the batch did: a
block applied first denies the blocked professional's read that follows, and only the first of
two reads by a professional new to the dossier is a first access. A call that fails is retried
alone and fails alone; the others are recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Flask

from api.app import create_app
from api.config import Settings
from api.service import Call, Service
from engine.model import AccessRequest, Actor
from tests.api.conftest import Api, KeyFiles, ps, setup_dossier
from tests.policy_copy import copy_policy


def _service(app: Flask) -> Service:
    service: Service = app.extensions["vigie"]
    return service


def _queued(service: Service, count: int) -> None:
    deadline = time.monotonic() + 3
    while service.group.waiting() < count:
        assert time.monotonic() < deadline, f"{service.group.waiting()} calls queued, not {count}"
        time.sleep(0.005)


def _one_batch(app: Flask, work: list[Callable[[], Any]]) -> list[Any]:
    """Run ``work`` (in this order) from threads while the append lock is held, so that they
    queue up; release the lock; return their results (or exceptions) in order."""
    service = _service(app)
    results: list[Any] = [None] * len(work)

    def run(i: int) -> None:
        try:
            results[i] = work[i]()
        except Exception as error:  # the test asserts on it
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    with service.database.unit_of_work():  # the append lock: the leader waits for it
        for i, thread in enumerate(threads):
            thread.start()
            _queued(service, i + 1)  # queued in this order
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()
    return results


def _read(api: Api, who: str, document: str) -> Callable[[], Any]:
    token = api.token(who)

    def call() -> Any:
        client = api.client.application.test_client()
        body = {"patient_id": "P1", "action": "document.read", "document_id": document}
        response = client.post(
            "/v1/decisions", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return call


def _entries(app: Flask, seqs: list[int]) -> list[dict[str, Any]]:
    with _service(app).database.read_only() as unit:
        first = min(seqs)
        entries = unit.ledger.entries(first, max(seqs) - first + 1)
    return [json.loads(e.header) for e in entries]


def _recorded_together(app: Flask, answers: list[dict[str, Any]]) -> None:
    seqs = sorted(a["trace"]["seq"] for a in answers)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "not one append"
    assert len({h["time"] for h in _entries(app, seqs)}) == 1, "not one transaction"


def test_waiting_calls_share_one_transaction_and_first_access_counts_once(
    app: Flask, api: Api
) -> None:
    setup_dossier(api)
    answers = _one_batch(
        app,
        [
            _read(api, "nurse", "bio"),
            _read(api, "nurse", "bio"),
            _read(api, "gp2", "bio"),
            _read(api, "blocked", "bio"),
            _read(api, "mt", "psy"),
        ],
    )
    _recorded_together(app, answers)
    assert [a["decision"] for a in answers] == ["permit", "permit", "permit", "deny", "permit"]
    assert answers[3]["reason"] == "professional.blocked"
    first = [[o["type"] for o in a["obligations"]].count("notify.first_access") for a in answers]
    assert first == [1, 0, 0, 0, 0]  # the nurse's first read only; gp2 and mt were here


def test_a_state_change_in_a_batch_is_seen_by_the_calls_after_it(app: Flask, api: Api) -> None:
    setup_dossier(api)
    holder = api.token("holder")

    def block_nurse() -> Any:
        client = app.test_client()
        response = client.put(
            f"/v1/dossiers/P1/blocks/{ps('nurse')}", headers={"Authorization": f"Bearer {holder}"}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    before = _read(api, "nurse", "bio")()
    assert before["decision"] == "permit"
    answers = _one_batch(app, [_read(api, "gp2", "bio"), block_nurse, _read(api, "nurse", "bio")])
    _recorded_together(app, answers)
    assert answers[0]["decision"] == "permit"
    assert answers[2]["decision"] == "deny" and answers[2]["reason"] == "professional.blocked"


def test_a_failing_call_fails_alone(app: Flask, api: Api) -> None:
    setup_dossier(api)
    service = _service(app)
    gp2 = Actor.from_claims(app.extensions["vigie.verifier"].claims(api.token("gp2")))

    def broken(*_: Any) -> Any:
        raise RuntimeError("effect failed")

    def failing() -> Any:
        request = AccessRequest(gp2, "document.read", "P1", document_ids=("bio",))
        return service.handle(Call(request, "req-broken", effect=broken))

    with _service(app).database.read_only() as unit:
        size = unit.ledger.head().size
    answers = _one_batch(app, [_read(api, "nurse", "bio"), failing, _read(api, "mt", "psy")])
    assert isinstance(answers[1], RuntimeError)
    assert answers[0]["decision"] == answers[2]["decision"] == "permit"
    with _service(app).database.read_only() as unit:
        assert unit.ledger.head().size == size + 2  # the failed call left no entry
    assert sorted(a["trace"]["seq"] for a in (answers[0], answers[2])) == [size, size + 1]


def test_a_rate_counts_the_calls_before_it_in_the_same_batch(
    settings: Settings, database: Any, key_files: KeyFiles, tmp_path: Path
) -> None:
    """Break glass limited to 3: one use already in the ledger, four in one transaction: the
    ledger's count plus the batch's earlier calls let two through, denials counted too."""
    folder = copy_policy(tmp_path, break_glass_rate_count="3,requests")
    app = create_app(replace(settings, policy_dir=folder), database=database, configure_logs=False)
    api = Api(app.test_client(), key_files)
    setup_dossier(api)
    token = api.token("stranger")

    def glass() -> Any:
        body = {"patient_id": "P1", "action": "document.read", "document_id": "bio"}
        body |= {"mode": "break_glass", "justification": "Patient inconscient"}
        headers = {"Authorization": f"Bearer {token}"}
        response = app.test_client().post("/v1/decisions", json=body, headers=headers)
        return response.status_code, response.get_json()

    assert glass()[0] == 200
    answers = _one_batch(app, [glass] * 4)
    assert [status for status, _ in answers] == [200, 200, 429, 429]
    _recorded_together(app, [body for _, body in answers])
    assert [body["reason"] for _, body in answers][2:] == ["rate.limited"] * 2
