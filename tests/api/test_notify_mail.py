"""The notices: relayed messages turned into French and English e-mails (text and HTML)
received by a real SMTP server (aiosmtpd), duplicates dropped by message_id, an SMTP failure
sending nothing as handled; and the two commands end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.broker import RabbitConsumer
from api.mailer import Mailer, MailError, Smtp
from api.notice import render
from engine.decide import PolicyEngine
from models.database import Database
from policy import load
from tests.api.conftest import Api, SmtpSink, queued, setup_dossier
from tests.api.test_notify_relay import emergency, make_relay

TABLES = PolicyEngine(load()).tables
ADDRESSES = {"P1": {"patient": "claire@example.org", "treating_doctor": "dr.bernard@example.org"}}
VIGIE = str(Path(sys.executable).with_name("vigie"))


def lookup(patient_id: str, recipient: str) -> str | None:
    return ADDRESSES.get(patient_id, {}).get(recipient)


def parts(mail: Any) -> tuple[str, str]:
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    return text, html


def consume(broker: Any, mailer: Mailer) -> None:
    consumer = RabbitConsumer(broker, "vigie-test-mail")
    try:
        for delivery in consumer.deliveries(0.3):
            if delivery is None:
                return
            mailer.handle(delivery.message_id, delivery.body)
            consumer.ack(delivery)
    finally:
        consumer.close()


def test_each_notice_reaches_the_smtp_server_in_french_and_english(
    api: Api, database: Database, broker: Any, smtp_sink: SmtpSink
) -> None:
    setup_dossier(api)  # creation, Dr Bernard's first access and deposits
    emergency(api)
    make_relay(database, broker).drain()
    mailer = Mailer(lookup, TABLES, Smtp("127.0.0.1", smtp_sink.port))
    consume(broker, mailer)
    mails = smtp_sink.messages
    assert mailer.counts["sent"] >= 5 and len(mails) == mailer.counts["sent"] + 1  # + doctor
    texts = {mail["To"]: [] for mail in mails}
    for mail in mails:
        text, html = parts(mail)
        assert "-- English version --" in text and 'lang="en"' in html and 'lang="fr"' in html
        assert re.match(r"<vigie-notification-\d+@vigie\.local>", mail["Message-ID"])
        assert not re.search(r"\b(bio|psy|masked)\b", text + html)  # no document ids
        texts[mail["To"]].append(text)
    holder = "\n".join(texts["claire@example.org"])
    assert "Votre DMP a été créé le " in holder and "Your DMP (shared medical record) was" in holder
    doctor_label = str(TABLES.profession_label("10")).lower()  # "médecin": labels are the policy's
    assert (
        "Un professionnel de santé a accédé à votre DMP pour la première fois : "
        f"Dr Bernard ({doctor_label})." in holder
    )
    biology, psychiatry = (str(TABLES.describe(c).label) for c in ("11502-2", "68599-0"))
    assert f"Un document a été ajouté : {biology}." in holder
    assert f"A document was added: {psychiatry}." in holder
    found = re.search(
        rf"Accès en urgence à votre DMP par n° 810000000006 \({doctor_label}\) le "
        r"\d\d/\d\d/\d{4} à \d\d:\d\d — motif : Patient inconscient\.",
        holder,
    )
    assert found, holder
    doctor = "\n".join(texts["dr.bernard@example.org"])
    assert "Accès en urgence au DMP de votre patient par n° 810000000006" in doctor
    # the same messages again (a relay that died before its commit): dropped, no mail
    before = len(mails)
    with database.unlocked_write() as uow:
        session = uow.session
        from sqlalchemy import text as sql

        session.execute(sql("UPDATE notifications SET status = 'pending'"))
    make_relay(database, broker).drain()
    consume(broker, mailer)
    assert len(smtp_sink.messages) == before and mailer.counts["duplicate"] >= 5


def test_pending_result_and_creation_say_nothing_medical() -> None:
    message = {"id": 7, "type": "notify.pending_result", "recipients": ["patient"],
               "time": "2026-12-04T09:30:00.000000Z", "details": {}}  # fmt: skip
    notice = render(message, "patient", TABLES)
    assert notice.subject == "Un résultat vous attend / A result is waiting for you"
    assert notice.text.startswith("Un résultat vous attend dans votre DMP.")
    created = render({**message, "type": "notify.dossier_created"}, "patient", TABLES)
    assert "Votre DMP a été créé le 04/12/2026." in created.text
    assert "<h1>Votre DMP a été créé</h1>" in created.html


def test_an_smtp_failure_leaves_the_message_unhandled(smtp_sink: SmtpSink) -> None:
    message = {"id": 9, "type": "notify.dossier_created", "recipients": ["patient"],
               "patient_id": "P1", "time": "2026-12-04T09:30:00.000000Z"}  # fmt: skip
    body = json.dumps(message).encode()
    down = Mailer(lookup, TABLES, Smtp("127.0.0.1", 1))  # nothing listens on port 1
    with pytest.raises(MailError, match="SMTP"):
        down.handle("9", body)
    assert down.seen == set()
    up = Mailer(lookup, TABLES, Smtp("127.0.0.1", smtp_sink.port), seen=down.seen)
    assert up.handle("9", body) == "sent" and len(smtp_sink.messages) == 1
    assert up.handle("9", body) == "duplicate"
    assert up.handle("10", body) == "invalid"  # the AMQP message_id must be the body's id
    assert up.handle("11", b"not json") == "invalid"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the library runs on both
def test_the_two_commands_end_to_end(
    tmp_path: Path, broker: Any, smtp_sink: SmtpSink, api: Api, db_url: str
) -> None:
    setup_dossier(api)
    addresses = tmp_path / "addresses.json"
    addresses.write_text(json.dumps(ADDRESSES))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(
        VIGIE_DATABASE_URL=db_url,
        VIGIE_AMQP_URL=broker.url,
        VIGIE_NOTIFY_EXCHANGE=broker.exchange,
        VIGIE_NOTIFY_QUEUE=broker.queue,
    )
    relay = subprocess.run([VIGIE, "notify", "relay", "--once"], env=env, capture_output=True,
                           text=True, timeout=60, check=False)  # fmt: skip
    assert relay.returncode == 0, relay.stderr
    sent = int(re.search(r"relayed (\d+) notification", relay.stderr).group(1))
    assert sent >= 5
    seen = tmp_path / "seen.txt"
    mail = [VIGIE, "notify", "mail", "--once", "--idle", "0.5", "--addresses", str(addresses),
            "--smtp", f"127.0.0.1:{smtp_sink.port}", "--seen", str(seen)]  # fmt: skip
    done = subprocess.run(mail, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert f"sent {sent}" in done.stderr and len(smtp_sink.messages) == sent
    assert "P1" not in done.stderr and "claire" not in done.stderr  # no patient data logged
    assert len(seen.read_text().split()) == sent
    assert queued(broker) == []  # every message acknowledged


def test_commands_without_a_broker_say_so_in_one_line(tmp_path: Path) -> None:
    from tests.api.test_cli import one_line_error, vigie

    url = f"sqlite:///{tmp_path / 'vigie.db'}"
    closed = {"VIGIE_DATABASE_URL": url, "VIGIE_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2F"}
    one_line_error(vigie("notify", "relay", "--once", env=closed), "run `vigie db upgrade`")
    Database(url).upgrade()
    one_line_error(vigie("notify", "relay", "--once", env=closed), "cannot connect to the broker")
    (tmp_path / "a.json").write_text("{}")
    mail = ("notify", "mail", "--once", "--addresses", str(tmp_path / "a.json"))
    one_line_error(vigie(*mail, env=closed), "cannot connect to the broker")
    no_nats = {"VIGIE_DATABASE_URL": url, "VIGIE_NATS_URL": "nats://127.0.0.1:1"}
    relay_nats = ("notify", "relay", "--once", "--broker", "nats")
    one_line_error(vigie(*relay_nats, env=no_nats), "cannot use NATS", "VIGIE_NATS_URL")
    wrong = {"VIGIE_DATABASE_URL": url, "VIGIE_AMQP_URL": "http://127.0.0.1:5672"}
    one_line_error(vigie("notify", "relay", "--once", env=wrong), "VIGIE_AMQP_URL")
    missing = ("notify", "mail", "--addresses", str(tmp_path / "none.json"))
    one_line_error(vigie(*missing, env=closed), "--addresses", "none.json")
