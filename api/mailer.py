"""The e-mail consumer of relayed notifications (``vigie notify mail``).

For each message of the queue: drop it if its ``message_id`` was already handled (a relay
duplicate), find each recipient's address through the ``Directory`` the dossier service
provides, render the notice (``api.notice``) and send it over SMTP; acknowledge the message
only after every mail went out. An SMTP failure gives the message back to the queue (tried
again: at least once); a message that cannot be rendered is acknowledged and counted, never
retried forever. A recipient the directory has no address for is skipped and counted (the
dossier service sends those by post).

The directory: any callable ``(patient_id, recipient) -> address | None``. The command reads a
JSON file the dossier service exports, ``{"<patient id>": {"patient": "claire@example.org",
"treating_doctor": "dr.bernard@example.org"}}`` (a minor's ``patient`` address is the
representative's: the dossier service decides).
"""

from __future__ import annotations

import json
import smtplib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import structlog

from api.config import ConfigError
from api.notice import NoticeError, email_of, render
from engine.tables import Tables

log = structlog.get_logger("vigie.notify")

Directory = Callable[[str, str], str | None]


class MailError(Exception):
    """The SMTP server did not take a mail: the message goes back to the queue."""


def file_directory(path: Path) -> Directory:
    """The directory of a JSON file ``{patient_id: {recipient: address}}``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--addresses: no file at {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--addresses: {path} is not readable JSON ({exc})") from None
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise ConfigError(f"--addresses: {path} must map patient ids to {{recipient: address}}")

    def lookup(patient_id: str, recipient: str) -> str | None:
        found = document.get(patient_id, {}).get(recipient)
        return found if isinstance(found, str) and found else None

    return lookup


@dataclass(frozen=True, slots=True)
class Smtp:
    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "DMP - ne pas répondre <notifications@vigie.local>"
    domain: str = "vigie.local"


@dataclass
class Mailer:
    """Turns messages into sent mails; ``counts``: sent, duplicate, no_address, invalid."""

    directory: Directory
    tables: Tables
    smtp: Smtp
    seen: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    remember: Callable[[str], None] | None = None

    def handle(self, message_id: str | None, body: bytes) -> str:
        """Handle one message; return what happened (a key of ``counts``). Raises MailError
        when a mail could not be sent (nothing is marked handled then)."""
        outcome = self._handle(message_id, body)
        self.counts[outcome] += 1
        return outcome

    def _handle(self, message_id: str | None, body: bytes) -> str:
        try:
            message = json.loads(body)
            key = str(message["id"])
        except (ValueError, KeyError, TypeError):
            log.error("notify.mail_invalid", message_id=message_id)
            return "invalid"
        if message_id is not None and message_id != key:
            log.error("notify.mail_invalid", message_id=message_id, reason="id mismatch")
            return "invalid"
        if key in self.seen:
            log.info("notify.mail_duplicate", message_id=key)
            return "duplicate"
        mails: list[EmailMessage] = []
        try:
            for recipient in message.get("recipients") or []:
                address = self.directory(str(message.get("patient_id")), str(recipient))
                if address is None:
                    continue
                notice = render(message, str(recipient), self.tables)
                mails.append(
                    email_of(
                        notice,
                        sender=self.smtp.sender,
                        to=address,
                        outbox_id=int(key),
                        domain=self.smtp.domain,
                    )
                )
        except NoticeError as exc:
            log.error("notify.mail_invalid", message_id=key, reason=str(exc))
            return "invalid"
        if mails:
            self._send(mails)
        self.seen.add(key)
        if self.remember is not None:
            self.remember(key)
        log.info("notify.mailed", message_id=key, mails=len(mails))
        return "sent" if mails else "no_address"

    def _send(self, mails: list[EmailMessage]) -> None:
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=10) as client:
                for mail in mails:
                    client.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"SMTP {self.smtp.host}:{self.smtp.port}: {exc}") from None
