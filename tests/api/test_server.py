"""End to end: ``vigie serve`` as a subprocess (granian, 2 workers; and ``--dev``) on a
migrated SQLite file, spoken to over a real socket, restarted with SIGHUP, stopped with
SIGTERM."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.server import HEAD_LIMIT
from api.token import issue_token
from ledger.export import verify_export
from tests.api.conftest import AUDIENCE, ISSUER, KeyFiles, serve_env

VIGIE = str(Path(sys.executable).with_name("vigie"))
READY_WITHIN = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        sent = {"Content-Type": "application/json", **(headers or {})}
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"vigie serve exited with {self.process.returncode}: "
                    f"{self.log.read_text()[-2000:]}"
                )
            try:
                if request(self.port, "GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"not ready within {READY_WITHIN} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail("vigie serve did not stop within 15 s of SIGTERM")


@pytest.fixture
def serve(tmp_path: Path, key_files: KeyFiles) -> Iterator[Any]:
    env = serve_env(tmp_path, key_files)
    servers: list[Server] = []

    def start(*args: str) -> Server:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [VIGIE, "serve", "--port", str(port), *args],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        server = Server(process, port, log)
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


def bearer(key_files: KeyFiles, claims: dict[str, Any]) -> dict[str, str]:
    token = issue_token(key_files.idp_private, claims, issuer=ISSUER, audience=AUDIENCE)
    return {"Authorization": f"Bearer {token}"}


def exercise(port: int, key_files: KeyFiles) -> None:
    agent = bearer(key_files, {"sub": "AGENT-1", "actor_type": "agent"})
    holder = bearer(key_files, {"sub": "P1", "actor_type": "patient"})
    status, headers, body = request(
        port, "POST", "/v1/dossiers", {"patient_id": "P1", "consent": True}, agent
    )
    assert status == 201, body
    status, headers, body = request(
        port,
        "POST",
        "/v1/decisions",
        {"patient_id": "P1", "action": "dossier.read"},
        holder,
    )
    assert status == 200, body
    answer = json.loads(body)
    assert answer["decision"] == "permit" and answer["trace"]["seq"] == 1
    assert headers["x-request-id"]
    # a 401 with its challenge
    status, headers, body = request(
        port,
        "POST",
        "/v1/decisions",
        {"patient_id": "P1", "action": "dossier.read"},
        {"Authorization": "Bearer x.y.z", "X-Request-Id": "e2e-401"},
    )
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-request-id"] == "e2e-401"
    # a 413 for a body over 1 MiB, announced by Content-Length
    status, headers, body = request(
        port, "POST", "/v1/decisions", headers=holder, raw=b"{" + b" " * (1024 * 1024 + 16) + b"}"
    )
    assert status == 413, body[:200]
    assert headers["content-type"] == "application/problem+json"
    # the patient's export, verified offline with the key the server publishes
    status, _, key = request(port, "GET", "/v1/ledger/key")
    assert status == 200
    status, headers, body = request(port, "GET", "/v1/dossiers/P1/traces/export", headers=holder)
    assert status == 200, body[:300]
    report = verify_export(json.loads(body), key.decode().strip())
    assert report.patient_id == "P1"
    status, _, note = request(port, "GET", "/v1/ledger/checkpoint")
    assert status == 200 and note.decode().startswith("vigie.local/ledger\n")


def test_server_serves_over_a_socket_and_stops_on_sigterm(serve: Any, key_files: KeyFiles) -> None:
    server = serve("--workers", "2")
    exercise(server.port, key_files)
    # both workers answer from one ledger: many requests, one gap-free sequence
    holder = bearer(key_files, {"sub": "P1", "actor_type": "patient"})
    seqs = []
    for _ in range(12):
        status, _, body = request(
            server.port,
            "POST",
            "/v1/decisions",
            {"patient_id": "P1", "action": "dossier.read"},
            holder,
        )
        assert status == 200
        seqs.append(json.loads(body)["trace"]["seq"])
    assert seqs == list(range(seqs[0], seqs[0] + 12))
    assert server.stop() == 0
    with pytest.raises(ConnectionRefusedError):
        request(server.port, "GET", "/healthz")
    log = server.log.read_text()
    assert "Traceback" not in log
    assert holder["Authorization"].split()[1] not in log


def _workers(server: Server) -> set[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return {int(pid) for pid in children.read_text().split()}


@pytest.mark.slow
def test_sighup_restarts_the_workers_without_refusing_a_request(
    serve: Any, key_files: KeyFiles
) -> None:
    """SIGHUP: new workers (new apps) replace the old ones one at a time while requests keep
    coming; none is refused or lost, and the ledger's sequence has no gap."""
    server = serve("--workers", "2")
    exercise(server.port, key_files)
    holder = bearer(key_files, {"sub": "P1", "actor_type": "patient"})
    before = _workers(server)
    assert len(before) == 2
    server.process.send_signal(signal.SIGHUP)
    seqs, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline:
        body = {"patient_id": "P1", "action": "dossier.read"}
        status, _, answer = request(server.port, "POST", "/v1/decisions", body, holder)
        assert status == 200, answer
        seqs.append(json.loads(answer)["trace"]["seq"])
        if len(seqs) > 20 and not _workers(server) & before and len(_workers(server)) == 2:
            break
        time.sleep(0.02)
    after = _workers(server)
    assert len(after) == 2 and not after & before, (before, after)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert server.stop() == 0
    assert "Traceback" not in server.log.read_text()


def test_dev_server_serves_and_stops(serve: Any, key_files: KeyFiles) -> None:
    server = serve("--dev")
    exercise(server.port, key_files)
    assert server.stop() in (0, -signal.SIGTERM)


def test_the_servers_own_limits_are_problems_too(serve: Any) -> None:
    """What a server answers before the app is called: the development server's 414 and 431
    are problem+json (api.problem.ProblemRequestHandler, not http.server's HTML page); granian
    answers a request head over HEAD_LIMIT with its own bodiless 431 (README: limits)."""
    dev = serve("--dev")
    many = {f"X-Header-{i}": "v" for i in range(120)}
    for path, headers, status in [
        ("/v1/" + "x" * 70000, {}, 414),
        ("/healthz", many, 431),
        ("/healthz", {"X-Big": "a" * 70000}, 431),
    ]:
        code, answer, body = request(dev.port, "GET", path, headers=headers)
        assert code == status, (path[:20], code, body[:200])
        assert answer["content-type"] == "application/problem+json", answer
        problem = json.loads(body)
        assert problem["status"] == status and problem["type"].startswith("https://")
        assert problem["request_id"] == answer["x-request-id"]
    production = serve()
    code, answer, body = request(production.port, "GET", "/v1/" + "x" * (HEAD_LIMIT + 1000))
    assert code == 431 and body == b""


def send_raw(port: int, data: bytes) -> tuple[int, bytes]:
    """Send ``data`` as is on a new connection; the status and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            part = connection.recv(65536)
            if not part:
                break
            received += part
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(body) < length:
            part = connection.recv(65536)
            if not part:
                break
            body += part
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize("dev", [False, True], ids=["granian", "dev"])
def test_chunked_bodies_malformed_or_over_1_mib(serve: Any, key_files: KeyFiles, dev: bool) -> None:
    """Issue 13, finding 7: a bad chunk size is a 400 and a chunked body over 1 MiB a 413,
    problem+json both, nothing recorded; a well-formed chunked body is served."""
    server = serve(*(["--dev"] if dev else []))
    agent = bearer(key_files, {"sub": "AGENT-1", "actor_type": "agent"})["Authorization"]
    head = (
        "POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {agent}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()

    def framed(body: bytes, size: int = 65536) -> bytes:
        parts = [body[i : i + size] for i in range(0, len(body), size)]
        return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"

    for bad in (b"zz\r\nabc\r\n0\r\n\r\n", b"-5\r\nabcde\r\n0\r\n\r\n", b"zz\r\n"):
        status, body = send_raw(server.port, head + bad)
        assert status == 400, body
        assert json.loads(body)["status"] == 400
    decision = json.dumps({"patient_id": "P1", "action": "dossier.read"}).encode()
    status, body = send_raw(server.port, head + framed(decision.ljust(1024 * 1024 + 1)))
    assert status == 413, body
    assert "1 MiB" in json.loads(body)["detail"]
    status, body = send_raw(server.port, head + framed(b"x" * (3 * 1024 * 1024)))
    assert status == 413, body
    status, body = send_raw(server.port, head + framed(decision, size=7))
    assert status == 200, body
    assert json.loads(body)["trace"]["seq"] == 0  # the first entry: nothing before was recorded
