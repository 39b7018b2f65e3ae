"""``vigie notify mail``: the e-mail consumer of the relayed outbox (``api.mailer``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from api.config import ConfigError


def add_mail_command(sub: Any, command: Any) -> None:
    mail = command(
        sub,
        "mail",
        "read relayed notifications from the queue and send each recipient its notice "
        "(French and English, text and HTML) over SMTP; acknowledge after sending",
    )
    mail.add_argument(
        "--addresses",
        required=True,
        help='JSON file from the dossier service: {"<patient id>": {"patient": "a@b", '
        '"treating_doctor": "c@d"}}',
    )
    mail.add_argument("--smtp", default="127.0.0.1:25", help="SMTP server HOST:PORT")
    mail.add_argument("--sender", help="From: address")
    mail.add_argument(
        "--seen",
        help="file of handled message ids (one a line), read at start and appended to, so "
        "that duplicates are dropped across restarts too",
    )
    mail.add_argument("--once", action="store_true", help="exit when the queue stays empty")
    mail.add_argument("--idle", type=float, default=1.0, help="seconds of an empty queue")
    mail.set_defaults(run=_mail)


def _smtp(text: str, sender: str | None) -> Any:
    from api.mailer import Smtp

    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--smtp {text!r}: expected HOST:PORT, e.g. 127.0.0.1:25")
    return Smtp(host, int(port)) if sender is None else Smtp(host, int(port), sender)


def _mail(args: argparse.Namespace) -> int:
    import os

    from api.broker import BrokerError, BrokerSettings, RabbitConsumer
    from api.config import policy_dir
    from api.logs import configure_logging
    from api.mailer import Mailer, MailError, file_directory
    from engine.decide import PolicyEngine
    from policy import load

    configure_logging(os.environ.get("VIGIE_LOG_LEVEL", "INFO").upper())
    smtp = _smtp(args.smtp, args.sender)
    directory = file_directory(Path(args.addresses))
    seen_file = Path(args.seen) if args.seen else None
    seen = set(seen_file.read_text().split()) if seen_file and seen_file.exists() else set()

    def remember(key: str) -> None:
        if seen_file is not None:
            with seen_file.open("a") as out:
                out.write(key + "\n")

    mailer = Mailer(
        directory, PolicyEngine(load(policy_dir(os.environ))).tables, smtp, seen, remember=remember
    )
    try:
        consumer = RabbitConsumer(BrokerSettings.from_env())
    except BrokerError as exc:
        raise ConfigError(f"{exc} (VIGIE_AMQP_URL)") from None
    try:
        for delivery in consumer.deliveries(args.idle):
            if delivery is None:
                if args.once:
                    break
                continue
            try:
                mailer.handle(delivery.message_id, delivery.body)
            except MailError as exc:
                print(f"vigie: {exc}; message {delivery.message_id} requeued", file=sys.stderr)
                consumer.reject(delivery)
                time.sleep(1)
                continue
            consumer.ack(delivery)
    except BrokerError as exc:
        raise ConfigError(f"{exc} (VIGIE_AMQP_URL)") from None
    finally:
        consumer.close()
    counts = ", ".join(f"{k} {v}" for k, v in sorted(mailer.counts.items())) or "nothing"
    print(f"mail: {counts}", file=sys.stderr)
    return 0
