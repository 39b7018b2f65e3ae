# ruff: noqa: S311, S603, PLR0915  (random load mix; runs our own `vigie` binary)
"""What every drill shares: keys, a PostgreSQL database of its own, `vigie serve` processes in
their own process groups, a decision load with known expected answers, and the final audit
that matches every answer the clients received against the ledger.

Only 127.0.0.1 is ever contacted. Every loop is bounded in time; every process started here is
stopped (SIGTERM, then SIGKILL of its whole process group) by ``Drill.close``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client as httpclient
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import rfc8785
from cryptography.hazmat.primitives import serialization

import policy
from api.demo import write_ed25519
from api.token import issue_token

VIGIE = str(Path(sys.executable).with_name("vigie"))
PG_ADMIN_URL = os.environ.get("VIGIE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ISSUER, AUDIENCE = "vigie-drill-idp", "vigie-drill"
HOST = "127.0.0.1"
PATIENT = "P1"

CAST: dict[str, dict[str, Any]] = {
    "holder": {"sub": PATIENT, "actor_type": "patient"},
    "other_patient": {"sub": "P2", "actor_type": "patient"},
    "agent": {"sub": "AGENT-1", "actor_type": "agent"},
    "auditor": {"sub": "AUD-DRILL", "actor_type": "auditor"},
    "mt": {"sub": "810000000001", "actor_type": "professional", "profession": "10"},
    "gp2": {"sub": "810000000002", "actor_type": "professional", "profession": "10"},
    "nurse": {"sub": "899700218896", "actor_type": "professional", "profession": "60"},
    "stranger": {"sub": "810000000006", "actor_type": "professional", "profession": "10"},
    "blocked": {"sub": "810000000007", "actor_type": "professional", "profession": "10"},
}

# The load: (actor, decision request) -> the only answer POLICY.md allows for it on the
# dossier set up by ``setup_dossier``. Permits and denies mixed; no request changes state.
MIX: list[tuple[str, dict[str, Any], str, str]] = [
    ("nurse", {"action": "document.read", "document_id": "bio"}, "permit",
     "professional.authorized"),
    ("nurse", {"action": "document.read", "document_id": "psy"}, "deny",
     "professional.not_habilitated"),
    ("gp2", {"action": "document.read", "document_id": "masked"}, "permit", "professional.author"),
    ("mt", {"action": "document.list"}, "permit", "professional.treating_doctor"),
    ("holder", {"action": "dossier.read"}, "permit", "patient.owner"),
    ("other_patient", {"action": "dossier.read"}, "deny", "actor.not_allowed"),
    ("stranger", {"action": "document.read", "document_id": "bio"}, "deny",
     "professional.not_authorized"),
    ("blocked", {"action": "document.read", "document_id": "bio"}, "deny",
     "professional.blocked"),
    ("stranger", {"action": "document.read", "document_id": "bio", "mode": "break_glass",
                  "justification": "patient inconscient"}, "permit", "emergency.break_glass"),
    ("gp2", {"action": "document.read", "document_id": "masked", "mode": "break_glass",
             "justification": "   "}, "deny", "emergency.justification_required"),
]  # fmt: skip


# -- reporting -------------------------------------------------------------------------------


@dataclass
class Report:
    name: str
    numbers: dict[str, Any] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)

    def fault(self, text: str) -> None:
        self.faults.append(text)

    def print(self) -> int:
        print(f"== drill {self.name} ==")
        for key, value in self.numbers.items():
            print(f"  {key}: {value}")
        print(f"  faults detected: {len(self.faults)}")
        for text in self.faults[:20]:
            print(f"    - {text}")
        if len(self.faults) > 20:
            print(f"    … and {len(self.faults) - 20} more")
        print("RESULT:", "FAIL" if self.faults else "OK")
        return 1 if self.faults else 0


# -- HTTP ------------------------------------------------------------------------------------


class RefusedError(Exception):
    """The connection was refused or failed before the request was sent: nothing reached it."""


class LostError(Exception):
    """The request was sent but no complete answer came back (the server died, a timeout)."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def unlimited_policy(folder: Path) -> Path:
    """The shipped policy/ copied into ``folder``, its rate counts (limits.csv) out of reach:
    the load repeats break glass far more than a real day allows, which is not the point."""
    target = folder / "policy"
    shutil.copytree(policy.DIRECTORY, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    limits = target / "limits.csv"
    lines = limits.read_text(encoding="utf-8").splitlines(keepends=True)
    for number, line in enumerate(lines):
        name, _, rest = line.partition(",")
        if name in ("break_glass_rate_count", "export_rate_count"):
            lines[number] = f"{name},{10**9},{rest.partition(',')[2]}"
    limits.write_text("".join(lines), encoding="utf-8")
    return target


def http(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    request_id: str | None = None,
    timeout: float = 15.0,
) -> Answer:
    connection = httpclient.HTTPConnection(HOST, port, timeout=timeout)
    try:
        try:
            connection.connect()
        except OSError as exc:
            raise RefusedError(str(exc)) from None
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if request_id:
            headers["X-Request-Id"] = request_id
        data = None if body is None else json.dumps(body).encode()
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, httpclient.HTTPException) as exc:
            raise LostError(f"{type(exc).__name__}: {exc}") from None
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


# -- PostgreSQL ------------------------------------------------------------------------------


def pg_admin() -> psycopg.Connection[Any]:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


def wait_for_postgres(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with pg_admin() as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            time.sleep(0.2)
    return False


# -- servers ---------------------------------------------------------------------------------


class Server:
    """One `vigie serve` (granian master + workers) in a process group of its own."""

    def __init__(self, env: dict[str, str], folder: Path, port: int, args: list[str]) -> None:
        self.env, self.folder, self.port, self.args = env, folder, port, args
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.folder / f"serve-{self.port}.log"

    def start(self, ready_within: float = 30.0) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [VIGIE, "serve", "--host", HOST, "--port", str(self.port), *self.args],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
                start_new_session=True,  # its own process group: master and workers together
            )
        self.starts += 1
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vigie serve exited: {self.log.read_text()[-1500:]}")
            with contextlib.suppress(RefusedError, LostError):
                if http(self.port, "GET", "/readyz", timeout=2).status == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"vigie serve not ready within {ready_within} s")

    def kill(self) -> None:
        """SIGKILL the whole process group (master and every worker) and reap the master."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._wait_group_gone()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._wait_group_gone()

    def _wait_group_gone(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)


# -- the drill -------------------------------------------------------------------------------


@dataclass
class Sent:
    """One request of the load and what became of it."""

    request_id: str
    mix: int  # index in MIX (-1: not part of the load)
    started: float
    finished: float = 0.0
    outcome: str = ""  # "answered", "refused" or "lost"
    status: int = 0
    content_type: str = ""
    body: dict[str, Any] | None = None


class Drill:
    """Keys, a fresh database, servers, tokens; ``close`` stops and drops everything."""

    def __init__(self, name: str, **env: str) -> None:
        self.name = name
        self.report = Report(name)
        self.folder = Path(tempfile.mkdtemp(prefix=f"vigie-drill-{name}-"))
        self.db_name = f"vigie_drill_{name}_{uuid.uuid4().hex[:8]}"
        self.idp = write_ed25519(self.folder / "idp-private.pem")
        (self.folder / "idp-public.pem").write_bytes(
            self.idp.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        write_ed25519(self.folder / "ledger.pem")
        (self.folder / "patient-ref.secret").write_text(uuid.uuid4().hex * 2)
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        self.url = f"{base}/{self.db_name}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
        self.env.update(
            {
                "VIGIE_DATABASE_URL": self.url,
                "VIGIE_JWT_KEYS": str(self.folder / "idp-public.pem"),
                "VIGIE_LEDGER_KEY": str(self.folder / "ledger.pem"),
                "VIGIE_PATIENT_REF_SECRET": str(self.folder / "patient-ref.secret"),
                "VIGIE_JWT_ISSUER": ISSUER,
                "VIGIE_JWT_AUDIENCE": AUDIENCE,
                "VIGIE_CHECKPOINT_INTERVAL": "0.5",
                "VIGIE_LOG_LEVEL": "WARNING",
                "VIGIE_POLICY_DIR": str(unlimited_policy(self.folder)),
                **env,
            }
        )
        self.tokens = {who: self.token(who) for who in CAST}
        self.servers: list[Server] = []
        self.sent: list[Sent] = []
        self._sent_lock = threading.Lock()
        self.extra_ids: set[str] = set()  # setup and auditor requests (traced, not load)
        self._db_created = False

    # -- lifecycle --

    def token(self, who: str) -> str:
        return issue_token(self.idp, CAST[who], issuer=ISSUER, audience=AUDIENCE, ttl_seconds=3600)

    def create_database(self) -> None:
        with pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self._db_created = True
        done = subprocess.run(
            [VIGIE, "db", "upgrade"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"vigie db upgrade failed: {done.stderr}")

    def server(self, *args: str, port: int | None = None, **env: str) -> Server:
        server = Server({**self.env, **env}, self.folder, port or free_port(), list(args))
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                print(f"warning: stopping server {server.port}: {exc}", file=sys.stderr)
        alive = [s.port for s in self.servers if s.process is not None and _group_alive(s)]
        self.report.numbers["server processes started / process groups left running"] = (
            f"{sum(s.starts for s in self.servers)} / {len(alive)}"
        )
        if alive:
            self.report.fault(f"servers on ports {alive} still running after the drill")
        if self._db_created and wait_for_postgres(30):
            with pg_admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                left = conn.execute(
                    "SELECT count(*) FROM pg_database WHERE datname = %s", (self.db_name,)
                ).fetchone()
            self.report.numbers[f"database {self.db_name} dropped"] = left == (0,)

    # -- requests --

    def call(self, port: int, who: str, method: str, path: str, body: Any = None) -> Answer:
        """A setup or audit request: its id is remembered as not part of the load."""
        request_id = f"{self.name}-extra-{uuid.uuid4().hex[:12]}"
        self.extra_ids.add(request_id)
        return http(port, method, path, body, self.tokens[who], request_id)

    def setup_dossier(self, port: int) -> None:
        """P1: treating doctor mt; authorised gp2, nurse, blocked; blocked 'blocked';
        documents bio (gp2, biology), psy (mt, psychiatric synthesis), masked (gp2)."""
        steps: list[tuple[str, str, str, Any, int]] = [
            ("agent", "POST", "/v1/dossiers", {"patient_id": PATIENT, "consent": True}, 201),
            ("holder", "PUT", f"/v1/dossiers/{PATIENT}/treating-doctor",
             {"professional_id": CAST["mt"]["sub"]}, 200),
        ]  # fmt: skip
        for who in ("gp2", "nurse", "blocked"):
            steps.append(
                ("holder", "PUT", f"/v1/dossiers/{PATIENT}/authorizations/{CAST[who]['sub']}",
                 None, 200)
            )  # fmt: skip
        steps.append(
            ("holder", "PUT", f"/v1/dossiers/{PATIENT}/blocks/{CAST['blocked']['sub']}", None, 200)
        )
        for who, document in (
            ("gp2", {"document_id": "bio", "type_code": "11502-2"}),
            ("mt", {"document_id": "psy", "type_code": "68599-0"}),
            ("gp2", {"document_id": "masked", "type_code": "11488-4", "masked": True}),
        ):
            steps.append((who, "POST", f"/v1/dossiers/{PATIENT}/documents", document, 201))
        for who, method, path, body, status in steps:
            answer = self.call(port, who, method, path, body)
            if answer.status != status:
                raise RuntimeError(f"setup {method} {path}: {answer.status} {answer.body[:300]!r}")

    def one(self, port: int, prefix: str, index: int | None = None) -> Sent:
        """Send one request of the load to ``port`` and record what became of it."""
        index = random.randrange(len(MIX)) if index is None else index
        who, body, _, _ = MIX[index]
        sent = Sent(f"{self.name}-{prefix}-{uuid.uuid4().hex[:16]}", index, time.monotonic())
        with self._sent_lock:
            self.sent.append(sent)
        try:
            answer = http(
                port,
                "POST",
                "/v1/decisions",
                {"patient_id": PATIENT, **body},
                self.tokens[who],
                sent.request_id,
            )
        except RefusedError:
            sent.outcome = "refused"
        except LostError:
            sent.outcome = "lost"
        else:
            sent.outcome = "answered"
            sent.status = answer.status
            sent.content_type = answer.headers.get("content-type", "")
            with contextlib.suppress(ValueError):
                sent.body = answer.json()
        sent.finished = time.monotonic()
        return sent

    def load(
        self, ports: Callable[[], list[int]], threads: int, stop: threading.Event, seconds: float
    ) -> list[threading.Thread]:
        """``threads`` clients sending the mix until ``stop`` is set (or ``seconds`` pass);
        a refused connection (server down) waits a little before the next try."""
        deadline = time.monotonic() + seconds

        def client(number: int) -> None:
            while not stop.is_set() and time.monotonic() < deadline:
                port = random.choice(ports())
                sent = self.one(port, f"t{number}")
                if sent.outcome == "refused":
                    time.sleep(0.05)

        workers = [
            threading.Thread(target=client, args=(n,), name=f"client-{n}", daemon=True)
            for n in range(threads)
        ]
        for worker in workers:
            worker.start()
        return workers

    # -- the audit --

    def read_ledger(self, port: int) -> list[dict[str, Any]]:
        """Every entry, as an auditor through ``GET /v1/ledger/entries`` (each page read is
        itself traced, with an id the drill remembers)."""
        entries: list[dict[str, Any]] = []
        start = 0
        for _ in range(100_000):
            answer = self.call(
                port, "auditor", "GET", f"/v1/ledger/entries?from_seq={start}&limit=500"
            )
            if answer.status != 200:
                raise RuntimeError(f"ledger read: {answer.status} {answer.body[:300]!r}")
            page = answer.json()
            entries.extend(page["items"])
            if page["next_cursor"] is None:
                return entries
            start = int(page["next_cursor"])
        raise RuntimeError("ledger read did not end")

    def audit(self, entries: list[dict[str, Any]], *, allow_lost: bool) -> None:
        """Match every answer against the ledger and every entry against a request."""
        report = self.report
        sent = list(self.sent)
        by_id: dict[str, list[dict[str, Any]]] = {}
        previous: str | None = None
        for position, item in enumerate(entries):
            header, payload = item["header"], item["payload"]
            if header["seq"] != position:
                report.fault(f"gap or reorder: entry {position} has seq {header['seq']}")
            leaf = _leaf_hash(header)
            item["_leaf"] = leaf
            if header["prev"] != previous:
                report.fault(f"fork: seq {header['seq']} prev {header['prev']} != {previous}")
            previous = leaf
            rid = (payload or {}).get("request_id", "")
            by_id.setdefault(rid, []).append(item)
        for rid, items in by_id.items():
            if len(items) > 1:
                report.fault(f"request {rid} has {len(items)} entries")
        statuses: Counter[str] = Counter()
        lost_with_entry = lost_without_entry = 0
        decisions: Counter[str] = Counter()
        for request in sent:
            found = by_id.get(request.request_id, [])
            key = request.outcome if request.outcome != "answered" else str(request.status)
            statuses[key] += 1
            if request.outcome == "answered" and request.status == 200:
                body = request.body or {}
                decisions[body.get("decision", "?")] += 1
                _, _, want_decision, want_reason = MIX[request.mix]
                if (body.get("decision"), body.get("reason")) != (want_decision, want_reason):
                    report.fault(
                        f"{request.request_id}: answered {body.get('decision')}/"
                        f"{body.get('reason')}, policy says {want_decision}/{want_reason}"
                    )
                if not found:
                    report.fault(
                        f"LOSS: {request.request_id} answered 200 seq "
                        f"{body.get('trace', {}).get('seq')} but has no entry"
                    )
                    continue
                entry = found[0]
                trace = body.get("trace", {})
                if (
                    entry["payload"].get("decision_id") != body.get("decision_id")
                    or entry["header"]["seq"] != trace.get("seq")
                    or entry["_leaf"] != trace.get("leaf_hash")
                    or entry["header"]["decision"] != body.get("decision")
                ):
                    report.fault(f"{request.request_id}: answer and entry disagree")
            elif request.outcome == "answered" and request.status != 503:
                report.fault(f"{request.request_id}: unexpected status {request.status}")
            if request.outcome == "lost":
                if found:
                    lost_with_entry += 1
                else:
                    lost_without_entry += 1
                if not allow_lost:
                    report.fault(f"{request.request_id}: no answer (connection lost)")
            elif found and request.status != 200:  # refused, or an error: never committed
                report.fault(
                    f"{request.request_id} ({key}) has an entry at seq {found[0]['header']['seq']}"
                )
            if found:
                _, _, want_decision, want_reason = MIX[request.mix]
                header = found[0]["header"]
                if header["decision"] == "permit" and want_decision != "permit":
                    report.fault(f"PERMIT THAT SHOULD NOT EXIST: seq {header['seq']}")
                elif (header["decision"], header["reason"]) != (want_decision, want_reason):
                    report.fault(f"seq {header['seq']}: {header['reason']} != {want_reason}")
        known = {s.request_id for s in sent} | self.extra_ids
        orphans = [rid for rid in by_id if rid not in known]
        for rid in orphans[:5]:
            report.fault(f"entry for a request never sent: {rid!r}")
        answered = statuses.get("200", 0)
        report.numbers.update(
            {
                "operations attempted": len(sent),
                "answers by status": dict(sorted(statuses.items())),
                "decisions answered (200)": dict(sorted(decisions.items())),
                "entries found": len(entries),
                "entries of the load": sum(len(by_id.get(s.request_id, [])) for s in sent),
                "answers lost in flight (entry committed / not)": (
                    f"{lost_with_entry} / {lost_without_entry}"
                ),
                "setup+auditor entries": sum(len(by_id.get(r, [])) for r in self.extra_ids),
                "entries with no matching request": len(orphans),
                "answered 200 with an entry": answered
                - sum(1 for f in report.faults if f.startswith("LOSS")),
            }
        )

    def verify(self) -> None:
        """``vigie ledger verify`` must pass."""
        done = subprocess.run(
            [VIGIE, "ledger", "verify", "--quiet"],
            env=self.env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        line = (done.stdout.strip() or done.stderr.strip()).splitlines()[-1:]
        self.report.numbers["vigie ledger verify"] = f"exit {done.returncode}: {' '.join(line)}"
        if done.returncode != 0:
            self.report.fault(f"vigie ledger verify failed: {done.stdout} {done.stderr}")

    def checkpoints(self) -> list[int]:
        """The sizes of the stored checkpoints, in signing order."""
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.db_name
        with psycopg.connect(url, connect_timeout=5) as conn:
            rows = conn.execute("SELECT size FROM ledger_checkpoints ORDER BY id").fetchall()
        return [int(row[0]) for row in rows]


def _group_alive(server: Server) -> bool:
    assert server.process is not None
    try:
        os.killpg(server.process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _leaf_hash(header: dict[str, Any]) -> str:
    return hashlib.sha256(b"\x00" + rfc8785.dumps(header)).hexdigest()


@contextlib.contextmanager
def drill(name: str, **env: str) -> Iterator[Drill]:
    """A drill whose servers are stopped and database dropped whatever happens, also on
    SIGTERM/SIGINT (turned into an exception so ``finally`` blocks run)."""

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupted)
    run = Drill(name, **env)
    try:
        run.create_database()
        yield run
    finally:
        run.close()
        signal.signal(signal.SIGTERM, previous)


def wait_threads(threads: list[threading.Thread], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
