"""Four service processes x eight threads deciding against one PostgreSQL database: one
linear chain, every answered request has its entry, and the whole ledger verifies."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from api.app import create_app
from api.config import load_keys
from ledger.verify import verify_ledger
from models.database import Database
from tests.api.conftest import Api, KeyFiles, settings_for, setup_dossier

PROCESSES, THREADS = 4, 8
SECONDS = float(os.environ.get("VIGIE_TEST_CONCURRENCY_SECONDS", "10"))


def _worker(db_url: str, key_folder: str, seconds: float, results: Any) -> None:
    folder = Path(key_folder)
    idp = serialization.load_pem_private_key((folder / "idp-private.pem").read_bytes(), None)
    keys = KeyFiles(
        folder,
        idp,
        folder / "idp-public.pem",
        folder / "ledger.pem",  # type: ignore[arg-type]
        folder / "patient-ref.secret",
    )
    app = create_app(settings_for(db_url, keys), configure_logs=False)
    answered: list[int] = []
    failures: list[str] = []
    deadline = time.monotonic() + seconds

    def run(index: int) -> None:
        api = Api(app.test_client(), keys)
        who = ("nurse", "gp2", "stranger", "mt")[index % 4]
        while time.monotonic() < deadline:
            response = api.call(
                who,
                "POST",
                "/v1/decisions",
                {"patient_id": "P1", "action": "document.read", "document_id": "bio"},
            )
            if response.status_code == 200:
                answered.append(response.get_json()["trace"]["seq"])
            else:
                failures.append(f"{response.status_code} {response.get_data(as_text=True)[:200]}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((answered, failures))


@pytest.mark.postgres
@pytest.mark.slow
def test_four_processes_eight_threads_one_chain(pg_database_url: str, key_files: KeyFiles) -> None:
    settings = settings_for(pg_database_url, key_files)
    database = Database(pg_database_url, statement_timeout_ms=30_000)
    database.upgrade()
    setup = create_app(settings, database=database, configure_logs=False)
    setup_dossier(Api(setup.test_client(), key_files))
    with database.read_only() as uow:
        before = uow.ledger.head().size

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(
            target=_worker, args=(pg_database_url, str(key_files.folder), SECONDS, results)
        )
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    collected = [results.get(timeout=SECONDS + 120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    answered = sorted(seq for seqs, _ in collected for seq in seqs)
    failures = [f for _, fails in collected for f in fails]
    assert failures == []
    assert len(answered) > PROCESSES * THREADS
    assert len(set(answered)) == len(answered), "two answers share a seq"
    with database.read_only() as uow:
        size = uow.ledger.head().size
        assert size == before + len(answered), "entry count differs from answered requests"
        assert answered == list(range(before, size))
        report = verify_ledger(uow.ledger, load_keys(settings).ledger_signer.verifier)
        assert report.entries == size
    database.dispose()
    print(
        f"{len(answered)} decisions in {SECONDS:.0f} s from {PROCESSES}x{THREADS} clients: "
        f"{len(answered) / SECONDS:.0f}/s, one chain of {size} entries verified"
    )
