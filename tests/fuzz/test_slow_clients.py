"""Header limits and slow clients against `vigie serve` (granian, 2 workers and the default
64 threads of api/server.py) over a real socket, on a migrated SQLite file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import KeyFiles, serve_env

VIGIE = str(Path(sys.executable).with_name("vigie"))
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


def _get(port: int, raw: bytes, timeout: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(raw)
        return connection.recv(4096)


@pytest.fixture
def server(tmp_path: Path, key_files: KeyFiles) -> Iterator[int]:
    env = serve_env(tmp_path, key_files)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        [VIGIE, "serve", "--port", str(port), "--workers", "2"],
        env={**env, "VIGIE_CLIENT_TIMEOUT": "2"},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if b" 200 " in _get(port, HEALTHZ, 2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("vigie serve did not start")
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.slow
def test_oversized_header_is_refused(server: int) -> None:
    """A request head over 16 KiB (api/server.py HEAD_LIMIT) is a 431; the server stays up."""
    answer = _get(
        server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 10
    )
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert b" 200 " in _get(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 5)


@pytest.mark.slow
def test_half_sent_requests_do_not_starve_healthz(server: int) -> None:
    """40 connections stop in the middle of their request head and 40 in the middle of their
    body (VIGIE_CLIENT_TIMEOUT=2 here). A waiting head holds no thread and is dropped after
    2 s; a waiting body holds its own thread only (granian has no body deadline), never one a
    connection accepted later needs. /healthz answers at once throughout. Under gunicorn
    (2 x 16 threads, a 5 s timeout per read) it waited for rounds of timeouts."""
    heads, bodies = [], []
    try:
        for _ in range(40):
            connection = socket.create_connection(("127.0.0.1", server), timeout=10)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # never finished
            heads.append(connection)
        for _ in range(40):
            connection = socket.create_connection(("127.0.0.1", server), timeout=10)
            connection.sendall(
                b"POST /v1/decisions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
                b'\r\nContent-Length: 100\r\n\r\n{"patient_id": '  # 86 bytes missing
            )
            bodies.append(connection)
        time.sleep(0.5)
        for _ in range(3):
            started = time.monotonic()
            assert b" 200 " in _get(server, HEALTHZ, 10)
            assert time.monotonic() - started < 1
        for connection in heads:  # dropped after VIGIE_CLIENT_TIMEOUT, without an answer
            assert connection.recv(4096) == b""
        started = time.monotonic()
        assert b" 200 " in _get(server, HEALTHZ, 10)
        assert time.monotonic() - started < 1
        for connection in bodies[:20]:  # a body that finally arrives is answered
            connection.sendall(b'"P1", "action": "dossier.read"}'.ljust(86))
            assert connection.recv(4096).startswith(b"HTTP/1.1 401")  # no token
    finally:
        for connection in heads + bodies:
            connection.close()


def test_keep_alive_and_pipelined_requests_on_one_connection(server: int) -> None:
    """Keep-alive and pipelining: two requests in a row, then two sent in one write, all
    answered on the same connection, which still answers after a pause."""
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"

    def answers(connection: socket.socket, count: int) -> bytes:
        data = b""
        while data.count(b"HTTP/1.1 200") < count or not data.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)
            assert chunk, f"connection closed after {data.count(b'HTTP/1.1 200')} answers"
            data += chunk
        return data

    with socket.create_connection(("127.0.0.1", server), timeout=10) as connection:
        for _ in range(2):
            connection.sendall(request)
            assert answers(connection, 1).count(b"HTTP/1.1 200") == 1
        connection.sendall(request + request)
        assert answers(connection, 2).count(b"HTTP/1.1 200") == 2
        time.sleep(0.3)
        connection.sendall(request)
        assert answers(connection, 1).count(b"HTTP/1.1 200") == 1
