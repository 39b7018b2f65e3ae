"""The split-view drill with real processes: two ``vigie witness serve`` processes, a log on
PostgreSQL, a fork of it (a second database, the same log key and origin, other entries at
the same sizes). The witnesses refuse the fork, so its bundle cannot reach a quorum and
``vigie verify-export --quorum 2`` rejects it; a witness SIGKILLed mid-run loses nothing and,
restarted, refuses to go back to a smaller or a different tree."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.config import Settings, load_keys
from ledger import merkle
from ledger.cosignature import CosignatureSigner
from ledger.witness import AddCheckpoint
from models.database import Database
from models.witness_store import WitnessStore
from tests.api.conftest import Api, KeyFiles, settings_for
from tests.api.test_cli import VIGIE
from tests.api.test_witness import _pem
from tests.api.test_witnessing import witnesses_file
from tests.conftest import new_pg_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ORIGIN = "vigie.local/ledger"


_GIVEN: set[int] = set()


def free_port() -> int:
    for port in range(18840, 18900):  # this project's range on the shared machine
        if port in _GIVEN:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            _GIVEN.add(port)
            return port
    raise RuntimeError("no free port in 18840-18899")


class WitnessProcess:
    """``vigie witness serve`` in a process of its own, on its own state file."""

    def __init__(self, folder: Path, name: str, log_key: str) -> None:
        folder.mkdir()
        pem = _pem(name.encode())
        (folder / "key.pem").write_bytes(pem)
        self.config = folder / "witness.toml"
        self.config.write_text(
            f'name = "{name}"\nkey = "key.pem"\nstate = "state.db"\n'
            f'[[log]]\norigin = "{ORIGIN}"\nkey = "{log_key}"\n'
        )
        self.state = folder / "state.db"
        self.name = name
        self.vkey = str(CosignatureSigner.from_pem(name, pem).verifier)
        (folder / "witness.vkey").write_text(self.vkey + "\n")
        self.vkey_file = folder / "witness.vkey"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "witness.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [VIGIE, "witness", "serve", "--config", str(self.config), "--port", str(self.port)],
                stdout=log,
                stderr=log,
                env=env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"witness {self.name} did not start: {self.log.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def post(self, body: bytes) -> tuple[int, str]:
        request = urllib.request.Request(self.url + "/add-checkpoint", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def size(self) -> int:
        record = WitnessStore(self.state).record(ORIGIN)
        return 0 if record is None else record.size


@contextmanager
def log_on(url: str, settings: Settings, key_files: KeyFiles, **extra: Any) -> Iterator[Api]:
    database = Database(url, statement_timeout_ms=10_000)
    database.upgrade()
    app = create_app(
        dataclasses.replace(settings, database_url=url, **extra),
        database=database,
        configure_logs=False,
    )
    try:
        yield Api(app.test_client(), key_files)
    finally:
        app.extensions["vigie.witnessing"].stop()
        database.dispose()


def service(api: Api) -> Any:
    return api.client.application.extensions["vigie"]


def entries(api: Api, who: str, patient: str, count: int) -> None:
    for _ in range(count):
        status = api.call(who, "GET", f"/v1/dossiers/{patient}/traces").status_code
        assert status in (200, 403)  # a permit or a deny: an entry either way


def export(api: Api, patient: str, who: str, path: Path) -> dict[str, Any]:
    response = api.call(who, "GET", f"/v1/dossiers/{patient}/traces/export")
    assert response.status_code == 200
    path.write_bytes(response.get_data())
    return json.loads(response.get_data())


def verify_export(
    bundle: Path, key: Path, witnesses: list[WitnessProcess]
) -> subprocess.CompletedProcess[str]:
    args = [
        VIGIE,
        "verify-export",
        str(bundle),
        "--key",
        str(key),
        "--quorum",
        "2",
        "--max-age",
        "600",
    ]
    for witness in witnesses:
        args += ["--witness", str(witness.vkey_file)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def exported(
    log: Any, bundle: Path, key: Path, witnesses: list[WitnessProcess]
) -> subprocess.CompletedProcess[str]:
    """The holder of P1 exports from ``log`` to ``bundle``; what ``vigie verify-export`` says
    of it with the log ``key`` and a quorum of 2 of ``witnesses``."""
    export(log, "P1", "holder", bundle)
    return verify_export(bundle, key, witnesses)


def wait_until(check: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_split_view_is_refused_and_a_killed_witness_loses_nothing(
    tmp_path: Path, key_files: KeyFiles, pg_database_url: str
) -> None:
    settings = settings_for(pg_database_url, key_files)
    log_key = str(load_keys(settings).ledger_signer.verifier)
    key_file = tmp_path / "vigie.key"
    key_file.write_text(log_key + "\n")
    w1 = WitnessProcess(tmp_path / "w1", "w1.example", log_key)
    w2 = WitnessProcess(tmp_path / "w2", "w2.example", log_key)
    witnesses = witnesses_file(tmp_path, [(w.name, w.url, w.vkey) for w in (w1, w2)])
    try:
        w1.start()
        w2.start()
        with log_on(
            pg_database_url, settings, key_files, witnesses=witnesses, witness_wait=10.0
        ) as a:
            a.create_dossier()
            entries(a, "holder", "P1", 5)
            honest = exported(a, tmp_path / "a.json", key_file, [w1, w2])
            assert honest.returncode == 0, honest.stdout
            assert "cosigné par 2 témoins" in honest.stdout
            print("honest bundle:", honest.stdout)
            size_a = w1.size()
            assert size_a == w2.size() > 0

            # -- the fork: same key and origin, other entries at the same sizes -------------
            with (
                new_pg_database() as fork_url,
                log_on(fork_url, settings, key_files, witnesses=witnesses, witness_wait=1.0) as b,
            ):
                b.create_dossier()
                entries(b, "mt", "P1", 1)  # a professional denied, in this tree only
                entries(b, "holder", "P1", 8)
                rejected = exported(b, tmp_path / "b.json", key_file, [w1, w2])
                assert rejected.returncode == 1, rejected.stdout
                assert "w1.example (no cosignature), w2.example (no cosignature)" in rejected.stdout
                print("fork bundle:", rejected.stdout)
                fork_note = service(b).checkpoint_now()
                with Database(fork_url).read_only() as uow:
                    fork_size = uow.ledger.head().size
                    proof = merkle.consistency_proof(uow.ledger, size_a, fork_size)
                for witness in (w1, w2):
                    status, text = witness.post(AddCheckpoint(0, (), fork_note).encode())
                    assert (status, text) == (409, f"{size_a}\n")
                    status, _ = witness.post(
                        AddCheckpoint(size_a, tuple(proof), fork_note).encode()
                    )
                    assert status == 422  # not consistent with the tree it cosigned
                    print(
                        f"{witness.name}: fork of size {fork_size} from 0: 409 {text.strip()};"
                        f" from {size_a} with the fork's proof: {status}"
                    )
                    assert witness.size() == size_a

            # -- a witness SIGKILLed mid-run --------------------------------------------------
            cosigned_before_kill = 0
            for round_ in range(24):
                entries(a, "holder", "P1", 2)
                service(a).checkpoint_now()
                if round_ == 8:
                    wait_until(lambda: w1.size() > size_a)
                    w1.kill()
                    with service(a).database.read_only() as uow:
                        cosigned_before_kill = uow.cosignatures.latest()["w1.example"][0]
                    assert w1.size() >= cosigned_before_kill  # every answer was on disk first
                if round_ == 16:
                    w1.start()
            with service(a).database.read_only() as uow:
                latest = uow.ledger.checkpoint_latest()
                notes = uow.ledger.checkpoints()
            assert latest is not None
            wait_until(lambda: w1.size() == latest.size)
            wait_until(
                lambda: (
                    service(a).database is not None and _cosigned(a, "w1.example") == latest.size
                )
            )
            metrics = a.call(None, "GET", "/metrics").get_data(as_text=True)
            assert 'vigie_witness_lag_entries{witness="w1.example"} 0.0' in metrics
            failures = next(
                float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith('vigie_witness_failures_total{witness="w1.example"}')
            )
            assert failures >= 1  # the downtime was seen
            print(
                f"w1 killed at cosigned size {cosigned_before_kill}, restarted, caught up to"
                f" {latest.size}; pushes failed meanwhile: {failures:.0f}"
            )
            w1.kill()  # and once more, then back: it refuses to go back
            w1.start()
            assert w1.size() == latest.size
            older = notes[len(notes) // 2]
            status, text = w1.post(AddCheckpoint(0, (), older).encode())
            assert (status, text) == (409, f"{latest.size}\n")
            status, _ = w1.post(AddCheckpoint(latest.size, (), older).encode())
            assert status == 400  # old size above the checkpoint's: a smaller tree
            status, _ = w1.post(AddCheckpoint(latest.size, (), fork_note).encode())
            assert status in (400, 422)  # a different tree
            assert w1.size() == latest.size
    finally:
        w1.stop()
        w2.stop()


def _cosigned(api: Api, witness: str) -> int:
    with service(api).database.read_only() as uow:
        return uow.cosignatures.latest().get(witness, (0, 0))[0]
