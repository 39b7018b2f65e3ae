"""``vigie notify relay`` and ``vigie notify mail`` (README "Delivering notifications")."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from api.commands import Subcommands, command, command_group
from api.config import ConfigError


def add_notify_commands(sub: Subcommands) -> None:
    """Register ``notify relay`` and ``notify mail`` under ``sub``."""
    notify_sub = command_group(sub, "notify", "deliver the notification outbox (relay, e-mail)")
    relay = command(
        notify_sub,
        "relay",
        "publish undelivered outbox rows to RabbitMQ (confirmed, persistent, at least once) "
        "and mark each delivered after the broker's confirm; runs until stopped",
    )
    relay.add_argument("--once", action="store_true", help="relay what is pending, then exit")
    relay.add_argument(
        "--broker",
        choices=["rabbitmq", "nats"],
        default="rabbitmq",
        help="RabbitMQ (VIGIE_AMQP_URL, default) or NATS JetStream (VIGIE_NATS_URL)",
    )
    relay.add_argument("--batch", type=_positive, default=100, help="rows per transaction")
    relay.add_argument("--idle", type=float, default=1.0, help="seconds between empty polls")
    relay.add_argument(
        "--metrics-port", type=int, help="serve the relay's Prometheus metrics on 127.0.0.1:PORT"
    )
    relay.set_defaults(run=_relay)
    from api.mail_cli import add_mail_command

    add_mail_command(notify_sub, command)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so that a loop finishes its step and exits."""
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    return stop


def database_from_env() -> Any:
    from models.database import Database

    url = os.environ.get("VIGIE_DATABASE_URL") or "sqlite:///vigie.db"
    return Database(url)


def _relay(args: argparse.Namespace) -> int:
    import socket

    from api.broker import BrokerError, BrokerSettings, RabbitPublisher
    from api.cli import DB_HINT
    from api.logs import configure_logging
    from api.relay import Relay, RelayMetrics
    from models.errors import StoreError
    from models.outbox import SqlOutbox

    broker = BrokerSettings.from_env()
    database = database_from_env()
    outbox = SqlOutbox(database)
    metrics = RelayMetrics(outbox)
    name = f"vigie-relay {socket.gethostname()} {os.getpid()}"
    publisher: Any = RabbitPublisher(broker, connection_name=name)
    if args.broker == "nats":
        from api.jetstream import DEFAULT_NATS_URL, JetStreamPublisher

        url = os.environ.get("VIGIE_NATS_URL") or DEFAULT_NATS_URL
        publisher = JetStreamPublisher(url, broker.exchange)
    relay = Relay(outbox, publisher, metrics, batch=args.batch)
    try:
        database.check_ready()  # reachable and migrated (0004 adds the delivery state)
        configure_logging(os.environ.get("VIGIE_LOG_LEVEL", "INFO").upper())  # after alembic's
        publisher.connect()  # a wrong URL or a broker that is down: one line, at once
        if args.once:
            delivered = relay.drain()
            print(f"relayed {delivered} notification(s) to {broker.exchange}", file=sys.stderr)
            return 0
        if args.metrics_port:
            from prometheus_client import start_http_server

            try:
                start_http_server(args.metrics_port, addr="127.0.0.1", registry=metrics.registry)
            except OSError as exc:
                raise ConfigError(f"--metrics-port {args.metrics_port}: {exc.strerror}") from None

        print(f"relaying the outbox to {broker.exchange} (^C to stop)", file=sys.stderr)
        relay.run(stop_on_signals(), idle=args.idle)  # a log line per batch relayed
        return 0
    except BrokerError as exc:
        raise ConfigError(f"{exc}; unconfirmed rows stay pending") from None
    except StoreError as exc:
        raise ConfigError(f"cannot use VIGIE_DATABASE_URL ({exc}); {DB_HINT}") from None
    finally:
        publisher.close()
        database.dispose()
