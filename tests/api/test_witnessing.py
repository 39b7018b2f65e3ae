"""The log side of witnessing on both databases: checkpoints pushed to real witness servers
over HTTP, cosignatures stored and served, bundles cosigned; a down or silent witness never
delays a decision and shows in /metrics."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from api.app import create_app
from api.config import Settings
from api.witness import Witness, WitnessConfig, create_witness_app
from ledger.cosignature import cosignatures
from ledger.errors import ExportError
from ledger.export import WitnessPolicy, verify_export
from tests.api.conftest import Api
from tests.api.test_witness import _pem


@contextmanager
def witness_server(folder: Path, name: str, log_key: str) -> Iterator[tuple[str, Witness]]:
    """A witness on an ephemeral port of 127.0.0.1: (its URL, the witness)."""
    folder.mkdir()
    (folder / "key.pem").write_bytes(_pem(name.encode()))
    config = folder / "witness.toml"
    config.write_text(
        f'name = "{name}"\nkey = "key.pem"\nstate = "state.db"\n'
        f'[[log]]\norigin = "vigie.local/ledger"\nkey = "{log_key}"\n'
    )
    witness = Witness(WitnessConfig.load(config))
    server = make_server("127.0.0.1", 0, create_witness_app(witness), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", witness
    finally:
        server.shutdown()
        thread.join()


def witnesses_file(folder: Path, entries: list[tuple[str, str, str]]) -> Path:
    path = folder / "witnesses.toml"
    path.write_text(
        "".join(f'[[witness]]\nname = "{n}"\nurl = "{u}"\nkey = "{k}"\n' for n, u, k in entries)
    )
    return path


def listed(name: str, url: str, witness: Witness) -> tuple[str, str, str]:
    """A line of the witnesses file: ``witness`` named ``name``, reached at ``url``."""
    return name, url, str(witness.config.signer.verifier)


@contextmanager
def two_witnesses(folder: Path, log_key: str) -> Iterator[tuple[Path, Witness, Witness]]:
    """Witnesses w1.example and w2.example running, and the witnesses file naming both at their
    URLs: (the file, w1, w2)."""
    with (
        witness_server(folder / "w1", "w1.example", log_key) as (url1, w1),
        witness_server(folder / "w2", "w2.example", log_key) as (url2, w2),
    ):
        file = witnesses_file(
            folder,
            [
                listed("w1.example", url1, w1),
                listed("w2.example", url2, w2),
            ],
        )
        yield file, w1, w2


@contextmanager
def witnessed_api(settings: Settings, database: Any, key_files: Any, **extra: Any) -> Iterator[Api]:
    app = create_app(
        dataclasses.replace(settings, **extra), database=database, configure_logs=False
    )
    try:
        yield Api(app.test_client(), key_files)
    finally:
        app.extensions["vigie.witnessing"].stop()


def log_key(settings: Settings) -> str:
    from api.config import load_keys

    return str(load_keys(settings).ledger_signer.verifier)


def make_entries(api: Api, count: int) -> None:
    api.create_dossier()
    for _ in range(count):
        assert api.call("holder", "GET", "/v1/dossiers/P1/traces").status_code == 200


def test_two_witnesses_cosign_checkpoints_and_bundles(
    tmp_path: Path, settings: Settings, database: Any, key_files: Any
) -> None:
    key = log_key(settings)
    with two_witnesses(tmp_path, key) as (file, w1, w2):
        keys = (w1.config.signer.verifier, w2.config.signer.verifier)
        with witnessed_api(
            settings, database, key_files, witnesses=file, witness_wait=10.0, witness_publish=True
        ) as api:
            make_entries(api, 3)
            first = api.call("holder", "GET", "/v1/dossiers/P1/traces/export").get_json()
            report = verify_export(first, key, WitnessPolicy(keys, 2, int(time.time()), max_age=60))
            assert report.cosigned_by == ("w1.example", "w2.example")
            make_entries_more = [
                api.call("holder", "GET", "/v1/dossiers/P1/traces") for _ in range(4)
            ]
            assert all(r.status_code == 200 for r in make_entries_more)
            second = api.call("holder", "GET", "/v1/dossiers/P1/traces/export").get_json()
            assert verify_export(second, key, WitnessPolicy(keys, 2, int(time.time()))).cosigned_by
            note = api.call(None, "GET", "/v1/ledger/checkpoint").get_data(as_text=True)
            assert len(cosignatures(note, list(keys))) == 2
            metrics = api.call(None, "GET", "/metrics").get_data(as_text=True)
            assert 'vigie_witness_lag_entries{witness="w1.example"} 0.0' in metrics
            assert 'vigie_witness_failures_total{witness="w2.example"} 0.0' in metrics
        assert w1.store.record("vigie.local/ledger").size == report.tree_size + 5  # type: ignore[union-attr]


@contextmanager
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never answers (a hung witness)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_a_down_or_silent_witness_never_delays_a_decision(
    tmp_path: Path, settings: Settings, database: Any, key_files: Any
) -> None:
    key = log_key(settings)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    down_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there any more
    with (
        silent_server() as hung_url,
        witness_server(tmp_path / "w1", "w1.example", key) as (_, w1),
        witness_server(tmp_path / "w2", "w2.example", key) as (_, w2),
    ):
        file = witnesses_file(
            tmp_path,
            [
                listed("w1.example", hung_url, w1),
                listed("w2.example", down_url, w2),
            ],
        )
        with witnessed_api(
            settings, database, key_files, witnesses=file, witness_wait=0.5, witness_publish=True
        ) as api:
            api.create_dossier()
            slowest = 0.0
            for _ in range(5):
                started = time.perf_counter()
                assert api.call("holder", "GET", "/v1/dossiers/P1/traces").status_code == 200
                response = api.call("holder", "GET", "/v1/dossiers/P1/traces/export")
                slowest = max(slowest, time.perf_counter() - started)
                assert response.status_code == 200
            assert slowest < 2.0  # the hung witness's 5 s timeout is never waited for
            bundle = response.get_json()
            keys = (w1.config.signer.verifier, w2.config.signer.verifier)
            with pytest.raises(ExportError) as caught:
                verify_export(bundle, key, WitnessPolicy(keys, 2, int(time.time())))
            assert "w1.example (no cosignature), w2.example (no cosignature)" in str(caught.value)
            time.sleep(0.3)
            metrics = api.call(None, "GET", "/metrics").get_data(as_text=True)
            lag = [x for x in metrics.splitlines() if x.startswith("vigie_witness_lag_entries{")]
            assert all(float(line.split()[-1]) > 0 for line in lag) and len(lag) == 2
            assert 'vigie_witness_failures_total{witness="w2.example"} 0.0' not in metrics
            unpublished = api.call(None, "GET", "/v1/ledger/checkpoint")  # none has the quorum
            assert unpublished.status_code == 503
            assert "quorum" in unpublished.get_json()["detail"]


def test_an_export_overtaken_at_the_witnesses_is_proved_against_a_later_cosigned_checkpoint(
    tmp_path: Path, settings: Settings, database: Any, key_files: Any
) -> None:
    """Another process had a later checkpoint cosigned while this export waited: the
    witnesses can no longer cosign the export's own checkpoint, so the bundle is proved
    against the later one, which the quorum cosigned and which covers the export."""
    from api.witnessing import Witnessing, load_witnesses

    key = log_key(settings)
    with two_witnesses(tmp_path, key) as (file, w1, w2):
        with witnessed_api(settings, database, key_files, witnesses=file, witness_wait=3.0) as api:
            this_process = api.client.application.extensions["vigie.witnessing"]
            this_process.stop()  # its pushers are slower than the other process's, say
            api.create_dossier()
            service = api.client.application.extensions["vigie"]
            with database.read_only() as uow:
                before = uow.ledger.head().size
            answers: list[Any] = []
            export = threading.Thread(
                target=lambda: answers.append(
                    api.call("holder", "GET", "/v1/dossiers/P1/traces/export")
                )
            )
            export.start()
            deadline = time.monotonic() + 10
            while True:  # the export's entry and checkpoint committed: it now waits
                with database.read_only() as uow:
                    latest = uow.ledger.checkpoint_latest()
                if latest is not None and latest.size > before:
                    break
                assert time.monotonic() < deadline
                time.sleep(0.02)
            api.call("other_patient", "GET", "/v1/dossiers/P2/traces")  # one more entry
            service.checkpoint_now()
            other = Witnessing(database, load_witnesses(file), 2)  # another process's pushers
            other.push_all()
            export.join()
        bundle = answers[0].get_json()
        keys = (w1.config.signer.verifier, w2.config.signer.verifier)
        report = verify_export(bundle, key, WitnessPolicy(keys, 2, int(time.time())))
        assert report.cosigned_by == ("w1.example", "w2.example")
        assert report.tree_size > report.export_seq + 1  # the later checkpoint
