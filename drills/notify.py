# ruff: noqa: S311, S603, S607, PLR0915, N802  (random timings; runs `vigie` and `rabbitmqctl`;
# aiosmtpd's handler hook is handle_DATA)
"""Notification drill: `vigie notify relay` against the machine's RabbitMQ, broken three ways
while decisions keep adding outbox rows, then every row checked delivered at least once.

    .venv/bin/python drills/notify.py [--quick] [--kills N] [--seed S] [--mails DIR]

1. SIGKILL: the relay's process group is killed mid-stream (rows pending) and restarted;
2. broker: RabbitMQ closes the relay's connection (`rabbitmqctl close_connection`); the same
   process reconnects;
3. database: the drill's database refuses connections (`ALTER DATABASE … ALLOW_CONNECTIONS
   false` and its sessions terminated) for a few seconds; the same process carries on after.

Afterwards the queue (an exchange and queue of this run only, deleted at the end) is read by
the project's mail consumer (`api.mailer`) into a local SMTP server (aiosmtpd); each mail is
saved as an .eml file. Exit 0 only if every outbox row is marked delivered, every row's id
reached the queue (lost = 0), no message names a row that does not exist, every duplicate
carries the message_id of its row and was dropped by the consumer, and every process stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import psycopg
from _harness import HOST, VIGIE, Drill, LostError, RefusedError, Server, drill, http, pg_admin
from aiosmtpd.controller import Controller

from api.broker import BrokerSettings, RabbitConsumer
from api.logs import configure_logging
from api.mailer import Mailer, Smtp
from engine.decide import PolicyEngine
from policy import load

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class RelayProcess(Server):
    """One `vigie notify relay` in a process group of its own; its Prometheus metrics on
    ``port`` (also the readiness probe)."""

    def start(self, ready_within: float = 30.0) -> None:
        assert self.process is None or self.process.poll() is not None
        command = [VIGIE, "notify", "relay", "--batch", "10", "--idle", "0.05",
                   "--metrics-port", str(self.port)]  # fmt: skip
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=sink, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=self.folder, start_new_session=True,
            )  # fmt: skip
        self.starts += 1
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vigie notify relay exited: {self.log.read_text()[-1500:]}")
            with contextlib.suppress(RefusedError, LostError):
                if http(self.port, "GET", "/metrics", timeout=2).status == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"vigie notify relay not ready within {ready_within} s")

    @property
    def log(self) -> Path:
        return self.folder / f"relay-{self.port}.log"

    def counters(self) -> dict[str, float]:
        """The relay's published / confirmed / failure counters now (empty if it is down)."""
        try:
            text = http(self.port, "GET", "/metrics", timeout=2).body.decode()
        except (RefusedError, LostError):
            return {}
        found: dict[str, float] = {}
        for line in text.splitlines():
            match = re.match(r'^vigie_notify_(\w+)_total(?:\{kind="(\w+)"\})? (\S+)$', line)
            if match:
                key = match.group(1) + (f"_{match.group(2)}" if match.group(2) else "")
                found[key] = float(match.group(3))
        return found


class Tally:
    """The counters of every relay process, as last scraped before it stopped or died."""

    def __init__(self) -> None:
        self.done: Counter[str] = Counter()
        self.current: dict[str, float] = {}

    def scrape(self, relay: RelayProcess) -> None:
        self.current = relay.counters() or self.current

    def ended(self) -> None:
        self.done.update(self.current)
        self.current = {}


def close_relay_connection(pid: int) -> int:
    """Close from the broker's side every connection the relay ``pid`` named; how many."""
    name = f"vigie-relay {socket.gethostname()} {pid}"
    command = ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"]
    listed = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout
    pids = [line.split("\t")[0] for line in listed.splitlines() if name in line]
    for connection in pids:
        subprocess.run(["rabbitmqctl", "-q", "close_connection", connection, "drill"],
                       capture_output=True, timeout=30, check=True)  # fmt: skip
    return len(pids)


def database_down(run: Drill, seconds: float) -> None:
    """The drill's database refuses every connection for ``seconds`` (then accepts again)."""
    with pg_admin() as conn:
        conn.execute(f'ALTER DATABASE "{run.db_name}" ALLOW_CONNECTIONS false')
        try:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (run.db_name,),
            )
            time.sleep(seconds)
        finally:
            conn.execute(f'ALTER DATABASE "{run.db_name}" ALLOW_CONNECTIONS true')


def outbox(run: Drill) -> tuple[dict[int, str], int]:
    """Every outbox row id with its status, and the number of rows pending."""
    url = run.url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute("SELECT id, status FROM notifications").fetchall()
    statuses = {int(i): s for i, s in rows}
    return statuses, sum(1 for s in statuses.values() if s == "pending")


def produce(run: Drill, port: int, stop: threading.Event, created: Counter[str]) -> None:
    """Create dossiers (one outbox row each) and emergency reads of P1 (two rows the first
    time, one after) until ``stop``; answers other than success are counted, not fatal."""
    token, doctor = run.tokens["agent"], run.tokens["gp2"]
    n = 0
    while not stop.is_set():
        n += 1
        try:
            if n % 5 == 0:
                body = {"patient_id": "P1", "action": "document.read", "document_id": "bio",
                        "mode": "break_glass", "justification": "Patient inconscient"}  # fmt: skip
                answer = http(port, "POST", "/v1/decisions", body, doctor, timeout=5)
            else:
                body = {"patient_id": f"N{uuid.uuid4().hex[:10]}", "consent": True}
                answer = http(port, "POST", "/v1/dossiers", body, token, timeout=5)
            created[str(answer.status)] += 1
        except (RefusedError, LostError):
            created["no answer"] += 1
            time.sleep(0.05)


def read_queue(broker: Any, mails: Path) -> dict[str, Any]:
    """Every message of the queue through the project's mail consumer into a local SMTP
    server; the message ids seen, the mails received (saved under ``mails``)."""
    received: list[Any] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    smtp_port = _free_port()
    controller = Controller(Sink(), hostname=HOST, port=smtp_port)
    controller.start()
    ids: list[str] = []
    try:
        mailer = Mailer(
            lambda pid, who: f"{who}.{pid.lower()}@example.org",
            PolicyEngine(load()).tables,
            Smtp(HOST, smtp_port),
        )
        consumer = RabbitConsumer(broker, "vigie-drill-mail")
        try:
            for delivery in consumer.deliveries(1.0):
                if delivery is None:
                    break
                ids.append(delivery.message_id or "")
                mailer.handle(delivery.message_id, delivery.body)
                consumer.ack(delivery)
        finally:
            consumer.close()
    finally:
        controller.stop()
    mails.mkdir(parents=True, exist_ok=True)
    for number, mail in enumerate(received):
        (mails / f"{number:05d}.eml").write_bytes(mail.as_bytes())
    return {"ids": ids, "mails": received, "counts": mailer.counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 client, 2 kills, 2 s outage")
    parser.add_argument("--kills", type=int, default=None, help="SIGKILLs (default 10)")
    parser.add_argument("--down", type=float, default=None, help="database outage, seconds")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--mails", help="folder for the received mails (default: drill folder)")
    args = parser.parse_args()
    configure_logging("WARNING")  # the consumer's per-message lines are not the report
    kills = args.kills if args.kills is not None else (2 if args.quick else 10)
    down = args.down if args.down is not None else (2.0 if args.quick else 5.0)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    random.seed(seed)
    name = f"vigie.drill.{uuid.uuid4().hex[:12]}"
    broker = BrokerSettings(AMQP_URL, name, name)
    try:
        return _run(args, broker, kills, down, seed)
    finally:  # whatever happened: this run's exchange and queue go
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            _delete(broker)


def _run(
    args: argparse.Namespace, broker: BrokerSettings, kills: int, down: float, seed: int
) -> int:
    name = broker.queue
    with drill("notify") as run:
        relay_env = {**run.env, "VIGIE_AMQP_URL": AMQP_URL, "VIGIE_NOTIFY_EXCHANGE": name,
                     "VIGIE_NOTIFY_QUEUE": name, "VIGIE_LOG_LEVEL": "WARNING"}  # fmt: skip
        server = run.server("--workers", "1", "--threads", "4")
        server.start()
        run.setup_dossier(server.port)
        relay = RelayProcess(relay_env, run.folder, _free_port(), [])
        run.servers.append(relay)
        tally = Tally()
        stop = threading.Event()
        created: Counter[str] = Counter()
        producers = [
            threading.Thread(target=produce, args=(run, server.port, stop, created), daemon=True)
            for _ in range(1 if args.quick else 3)
        ]
        for producer in producers:
            producer.start()
        killed_with_backlog = broker_closed = 0
        try:
            time.sleep(1.0 if args.quick else 3.0)  # a backlog before the first relay starts
            for _ in range(kills):  # 1. SIGKILL mid-stream
                relay.start()
                time.sleep(random.uniform(0.05, 0.4))
                tally.scrape(relay)
                killed_with_backlog += outbox(run)[1] > 0
                relay.kill()
                tally.ended()
                time.sleep(random.uniform(0.2, 0.6))  # rows pile up while no relay runs
            relay.start()
            for _ in range(1 if args.quick else 3):  # 2. the broker drops the connection
                time.sleep(random.uniform(0.3, 0.8))
                assert relay.process is not None
                broker_closed += close_relay_connection(relay.process.pid)
            time.sleep(0.5)
            tally.scrape(relay)
            database_down(run, down)  # 3. the database refuses connections
            time.sleep(1.0)
        finally:
            stop.set()
            for producer in producers:
                producer.join(30)
        deadline = time.monotonic() + 60  # the same relay process drains what is left
        while outbox(run)[1] and time.monotonic() < deadline:
            tally.scrape(relay)
            time.sleep(0.2)
        tally.scrape(relay)
        relay.stop()
        tally.ended()
        statuses, pending = outbox(run)
        mails = Path(args.mails) if args.mails else run.folder / "mails"
        read = read_queue(broker, mails)
        ids = Counter(read["ids"])
        rows = {str(i) for i in statuses}
        lost = rows - set(ids)
        unknown = set(ids) - rows
        duplicates = sum(count - 1 for count in ids.values())
        if pending:
            run.report.fault(f"{pending} outbox row(s) still pending after the drill")
        if lost:
            run.report.fault(
                f"lost: {len(lost)} row(s) never reached the queue: {sorted(lost)[:10]}"
            )
        if unknown:
            run.report.fault(f"messages for rows that do not exist: {sorted(unknown)[:10]}")
        if read["counts"]["duplicate"] != duplicates:
            run.report.fault(f"consumer dropped {read['counts']['duplicate']} of {duplicates} dups")
        if not killed_with_backlog or not broker_closed:
            run.report.fault(f"faults not injected (kills mid-stream {killed_with_backlog},"
                             f" broker closes {broker_closed})")  # fmt: skip
        failures = {k: v for k, v in tally.done.items() if k.startswith("failures")}
        run.report.numbers = {
            "seed": seed,
            "requests by answer (producers)": dict(sorted(created.items())),
            "outbox rows": len(statuses),
            "rows delivered": sum(1 for s in statuses.values() if s == "delivered"),
            "relay SIGKILLs mid-stream (rows pending) / total": f"{killed_with_backlog} / {kills}",
            "broker-side connection closes": broker_closed,
            "database outage, s": down,
            "published (relay counters, last scrape per process)": int(tally.done["published"]),
            "confirmed (relay counters, last scrape per process)": int(tally.done["confirmed"]),
            "relay failures by kind": {k: int(v) for k, v in sorted(failures.items())},
            "messages in the queue": sum(ids.values()),
            "distinct message_ids": len(ids),
            "duplicates (same message_id)": duplicates,
            "lost": len(lost),
            "mails received by the SMTP server": len(read["mails"]),
            "consumer outcomes": dict(sorted(read["counts"].items())),
            "mails saved in": str(mails),
            **run.report.numbers,
        }
        sample = next((m for m in read["mails"] if "urgence" in str(m["Subject"])), None)
        if sample is not None:
            text = sample.get_body(preferencelist=("plain",)).get_content()
            run.report.numbers["a received notice"] = json.dumps(text.splitlines()[0],
                                                                 ensure_ascii=False)  # fmt: skip
    return run.report.print()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _delete(broker: Any) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        channel = connection.channel()
        channel.queue_delete(broker.queue)
        channel.exchange_delete(broker.exchange)
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main())
