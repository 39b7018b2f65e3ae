"""Header limits and slow clients against `vigie serve` (gunicorn, 2 workers x 4 threads, the
settings of api/server.py) over a real socket, on a migrated SQLite file."""

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
        [VIGIE, "serve", "--port", str(port), "--workers", "2", "--threads", "4"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if b" 200 " in _get(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 2):
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
    """limit_request_field_size (16 KiB): a 20 KB header line is a 431, the server stays up."""
    answer = _get(
        server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 10
    )
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert b" 200 " in _get(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 5)


@pytest.mark.slow
def test_slowloris_is_bounded_by_the_client_timeout(server: int) -> None:
    """Half-sent requests hold a thread at most VIGIE_CLIENT_TIMEOUT (5 s) each. With 16 of
    them against 2 workers x 4 threads (one worker may accept them all) a real request waits
    at most 16/4 = 4 rounds of 5 s. Stock gthread keeps them for good (this test fails with
    it). Bounded, not removed: run behind a buffering reverse proxy in production."""
    idle = []
    try:
        for _ in range(16):
            connection = socket.create_connection(("127.0.0.1", server), timeout=5)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # never finished
            idle.append(connection)
        time.sleep(0.5)
        started = time.monotonic()
        answer = _get(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 60)
        assert b" 200 " in answer
        assert time.monotonic() - started < 4 * 5 + 7
    finally:
        for connection in idle:
            connection.close()


def test_keep_alive_and_pipelined_requests_on_one_connection(server: int) -> None:
    """A kept-alive connection stays in its thread while requests follow (api/worker.py): two
    requests in a row, then two sent in one write, all answered on the same connection, and
    a connection idle past the short wait still gets its next answer (from the poller)."""
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
        time.sleep(0.3)  # beyond the in-thread wait, within gunicorn's keep-alive (2 s)
        connection.sendall(request)
        assert answers(connection, 1).count(b"HTTP/1.1 200") == 1
