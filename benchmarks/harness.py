"""Shared pieces of the benchmarks that run real processes: a throw-away PostgreSQL database,
demo keys and tokens, ``vigie serve`` (granian), and ``wrk`` with a generated Lua script.

Needs psutil (`.venv/bin/pip install psutil`), wrk, npm (for Cerbos) and PostgreSQL at
``VIGIE_BENCH_PG`` (default postgres@127.0.0.1:5432, trust). Everything listens on 127.0.0.1;
every process started here is stopped by its pid, and every database created here is dropped,
by the context managers below (also on errors and Ctrl-C).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg

from api.config import Settings
from api.demo import demo_tokens as _demo_tokens
from api.demo import make_keys

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PG_ADMIN = os.environ.get("VIGIE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def pg_database(prefix: str = "vigie_bench") -> Iterator[str]:
    """A fresh PostgreSQL database; yields its SQLAlchemy URL, drops it at the end."""

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        wait_for_postgres()  # the shared server may be restarting: drop it anyway
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for_postgres(timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def commit_times(url: str, commits: int = 300, synchronous_commit: str = "on") -> list[float]:
    """Milliseconds of each one-row UPDATE + COMMIT on one connection to ``url`` (a table
    ``floor`` of its own), sorted: the latency no durable decision at c=1 can beat."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS floor (id int PRIMARY KEY, v bigint)")
        conn.execute("INSERT INTO floor VALUES (1, 0) ON CONFLICT DO NOTHING")
        conn.execute(f"SET synchronous_commit = {synchronous_commit}")
        conn.commit()
        times = []
        for _ in range(commits):
            started = time.perf_counter()
            conn.execute("UPDATE floor SET v = v + 1 WHERE id = 1")
            conn.commit()
            times.append((time.perf_counter() - started) * 1000)
    return sorted(times)


def pg_setting(url: str, name: str) -> str:

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute(f"SHOW {name}").fetchone()
    return str(row[0]) if row else "?"


def vigie_env(folder: Path, database_url: str) -> dict[str, str]:
    """Demo keys in ``folder`` and the environment of a Vigie process on ``database_url``."""
    variables = make_keys(folder)
    variables["VIGIE_DATABASE_URL"] = database_url
    env = dict(os.environ)
    env.update(variables)
    return env


def demo_tokens(folder: Path, env: dict[str, str]) -> dict[str, str]:
    return _demo_tokens(folder, Settings.from_env(env))


def migrate(env: dict[str, str]) -> None:
    cmd = [str(VENV_BIN / "vigie"), "db", "upgrade"]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_for(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


@dataclass
class Server:
    """A started process (its own process group), stopped by :func:`stop`."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path


def start(args: Sequence[str], env: dict[str, str], log: Path, base: str, ready: str) -> Server:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(args), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(proc, base, log)
    try:
        wait_for(base + ready, proc=proc)
    except BaseException:
        stop(server)
        raise
    return server


def stop(server: Server | None) -> None:
    """SIGTERM the process group this benchmark started (the server master and its workers),
    then SIGKILL it if it lingers."""
    if server is None or server.proc.poll() is not None:
        return
    pgid = server.proc.pid  # start_new_session: the group id is the leader's pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        server.proc.wait(timeout=5)


def start_vigie(env: dict[str, str], folder: Path, workers: int = 2, threads: int = 8) -> Server:
    port = free_port()
    args = [str(VENV_BIN / "vigie"), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--threads", str(threads)]  # fmt: skip
    return start(args, env, folder / f"vigie-{port}.log", f"http://127.0.0.1:{port}", "/readyz")


def worker_pids(server: Server) -> list[int]:
    """The server workers: children of the master."""

    return [c.pid for c in psutil.Process(server.proc.pid).children()]


def rss_mb(pid: int) -> float:

    return float(psutil.Process(pid).memory_info().rss) / 2**20


# -- wrk ----------------------------------------------------------------------------------------
_LUA = r"""
local items = {
%s
}
local reqs = {}
local n = 0
local i = 0
init = function(args)
  for k, it in ipairs(items) do
    local headers = {["Content-Type"] = "application/json"}
    if it[2] ~= "" then headers["Authorization"] = "Bearer " .. it[2] end
    reqs[k] = wrk.format("POST", it[1], headers, it[3])
  end
  n = #reqs
  i = math.random(0, n - 1)
end
request = function()
  i = i %% n + 1
  return reqs[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON {\"requests\": %%d, \"duration_us\": %%d, " ..
    "\"status_errors\": %%d, \"socket_errors\": %%d, \"p50_us\": %%d, " ..
    "\"p99_us\": %%d, \"mean_us\": %%f, \"max_us\": %%d}\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
"""


def write_lua(path: Path, items: Sequence[tuple[str, str, str]]) -> Path:
    """A wrk script cycling through ``items`` = (path, bearer token or "", JSON body)."""
    rows = []
    for url_path, token, body in items:
        if "]==]" in body:
            raise ValueError("body holds the Lua long-string terminator")
        rows.append(f'  {{"{url_path}", "{token}", [==[{body}]==]}},')
    path.write_text(_LUA % "\n".join(rows))
    return path


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    status_errors: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(base: str, script: Path, connections: int, seconds: float) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian package wrk)")
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s"]
    cmd += [str(script), base]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        data["requests"],
        data["duration_us"] / 1e6,
        data["status_errors"],
        data["socket_errors"],
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
    )
