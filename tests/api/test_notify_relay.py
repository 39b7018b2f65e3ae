"""``vigie notify relay`` against the machine's RabbitMQ, on both databases: one confirmed,
persistent message per outbox row with its ids, rows marked delivered only after the confirm,
several relays without duplicates (PostgreSQL), recovery from a broker-side connection close."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pytest

from api.broker import BrokerError, RabbitPublisher
from api.relay import Relay, RelayMetrics
from models.database import Database
from models.outbox import SqlOutbox
from tests.api.conftest import Api, queued, setup_dossier


def make_relay(database: Database, broker: Any, name: str = "vigie-test-relay", **kw: Any):
    outbox = SqlOutbox(database)
    return Relay(outbox, RabbitPublisher(broker, name), RelayMetrics(outbox), **kw)


def outbox_rows(database: Database) -> list[tuple[Any, ...]]:
    from sqlalchemy import text

    with database.read_only() as uow:
        return [
            tuple(row)
            for row in uow.session.execute(
                text("SELECT id, type, entry_seq, status, delivered_at FROM notifications")
            )
        ]


def emergency(api: Api) -> None:
    api.break_glass("document.read", "Patient inconscient", document_id="bio")


def test_relay_once_sends_one_confirmed_message_per_row(
    api: Api, database: Database, broker: Any
) -> None:
    setup_dossier(api)
    api.decide("nurse", "P1", "document.read", document_id="bio")
    emergency(api)
    rows = outbox_rows(database)
    assert len(rows) >= 5 and all(r[3] == "pending" for r in rows)
    relay = make_relay(database, broker, batch=2)  # several batches
    assert relay.drain() == len(rows)
    messages = queued(broker)
    assert [int(p.message_id) for p, _ in messages] == sorted(r[0] for r in rows)  # commit order
    by_id = {r[0]: r for r in rows}
    for properties, body in messages:
        row = by_id[body["id"]]
        assert properties.message_id == str(body["id"])
        assert properties.delivery_mode == 2 and properties.content_type == "application/json"
        assert (body["type"], body["seq"]) == (row[1], row[2])
        assert len(body["patient_ref"]) == 64 and body["patient_id"] == "P1"
        assert body["time"].endswith("Z") and body["recipients"]
    glass = next(b for _, b in messages if b["type"] == "notify.emergency_access")
    assert glass["recipients"] == ["patient", "treating_doctor"]
    assert glass["details"]["justification"] == "Patient inconscient"
    assert glass["mode"] == "break_glass"
    added = [b for _, b in messages if b["type"] == "notify.document_added"]
    assert {b["details"]["document_type"] for b in added} >= {"11502-2"}
    assert all(set(b["details"]) == {"document_type"} for b in added)  # nothing else quoted
    after = outbox_rows(database)
    assert all(r[3] == "delivered" and r[4] is not None for r in after)
    assert relay.drain() == 0 and queued(broker) == []
    listed = api.call("holder", "GET", "/v1/dossiers/P1/notifications").get_json()["items"]
    assert all(n["status"] == "delivered" and n["delivered_at"] for n in listed)


def test_rows_stay_pending_when_the_broker_refuses(
    api: Api, database: Database, broker: Any
) -> None:
    setup_dossier(api)
    unroutable = type(broker)(broker.url, broker.exchange, "")  # no queue bound: unroutable
    relay = make_relay(database, unroutable)
    with pytest.raises(BrokerError, match="not confirmed"):
        relay.step()
    assert all(r[3] == "pending" for r in outbox_rows(database))
    assert make_relay(database, broker).drain() == len(outbox_rows(database))


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_concurrent_relays_skip_locked_rows(api: Api, database: Database, broker: Any) -> None:
    setup_dossier(api)
    for n in range(30):
        assert (
            api.call(
                "agent", "POST", "/v1/dossiers", {"patient_id": f"Q{n}", "consent": True}
            ).status_code
            == 201
        )
    total = len(outbox_rows(database))
    delivered: list[int] = []
    relays = [make_relay(database, broker, f"vigie-test-relay-{i}", batch=3) for i in range(3)]

    def work(relay: Relay) -> None:
        delivered.append(relay.drain())

    threads = [threading.Thread(target=work, args=(r,)) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ids = [int(p.message_id) for p, _ in queued(broker)]
    assert sorted(ids) == sorted(r[0] for r in outbox_rows(database))
    assert len(ids) == len(set(ids)) == total  # no row sent twice
    assert sum(delivered) == total and all(n > 0 for n in delivered)


def close_broker_connection(name: str) -> bool:
    """Close, from the broker's side, the connection whose client named it ``name``."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    pids = [line.split("\t")[0] for line in listed.splitlines() if name in line]
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "-q", "close_connection", pid, "drill: closed by the broker"],
            capture_output=True,
            timeout=30,
            check=True,
        )
    return bool(pids)


def test_relay_recovers_when_the_broker_closes_its_connection(
    api: Api, database: Database, broker: Any
) -> None:
    setup_dossier(api)
    name = f"vigie-test-relay-{broker.queue}"
    relay = make_relay(database, broker, name, batch=5)
    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop,), kwargs={"idle": 0.05})
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while SqlOutbox(database).backlog().rows and time.monotonic() < deadline:
            time.sleep(0.05)
        assert close_broker_connection(name)
        for n in range(5):  # rows that arrive while the relay is cut off
            api.call("agent", "POST", "/v1/dossiers", {"patient_id": f"Q{n}", "consent": True})
        while SqlOutbox(database).backlog().rows and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        runner.join(30)
    rows = outbox_rows(database)
    assert all(r[3] == "delivered" for r in rows)
    ids = [int(p.message_id) for p, _ in queued(broker)]
    assert set(ids) == {r[0] for r in rows}  # nothing lost; a duplicate would repeat an id
    assert (
        relay.metrics.registry.get_sample_value("vigie_notify_failures_total", {"kind": "broker"})
        >= 1
    )


def test_metrics_show_the_backlog_and_what_the_relay_did(
    api: Api, database: Database, broker: Any
) -> None:
    from tests.api.test_ops import metric_value

    setup_dossier(api)
    pending = len(outbox_rows(database))
    text = api.call(None, "GET", "/metrics").get_data(as_text=True)
    assert metric_value(text, "vigie_outbox_pending_rows") == pending
    assert metric_value(text, "vigie_outbox_oldest_pending_seconds") > 0
    relay = make_relay(database, broker)
    relay.drain()
    text = api.call(None, "GET", "/metrics").get_data(as_text=True)
    assert metric_value(text, "vigie_outbox_pending_rows") == 0
    assert metric_value(text, "vigie_outbox_oldest_pending_seconds") == 0
    own = relay.metrics.registry.get_sample_value
    assert own("vigie_notify_published_total") == own("vigie_notify_confirmed_total") == pending
    assert own("vigie_outbox_pending_rows") == 0


class CutsTheDatabase:
    """The real publisher; after ``after`` confirms, every session of the test database is
    terminated, so the relay loses its transaction between the broker's confirm and its
    commit (what a SIGKILL or a database crash at that moment does)."""

    def __init__(self, real: RabbitPublisher, database: Database, after: int) -> None:
        self.real, self.database, self.after = real, database, after

    def publish(self, message_id: str, routing_key: str, body: bytes, timestamp: int) -> None:
        self.real.publish(message_id, routing_key, body, timestamp)
        self.after -= 1
        if self.after == 0:
            from tests.conftest import pg_admin_connect

            with pg_admin_connect() as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.database.engine.url.database,),
                )

    def close(self) -> None:
        self.real.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_lost_commit_resends_with_the_same_ids_and_loses_nothing(
    api: Api, database: Database, broker: Any
) -> None:
    from models.errors import StoreUnavailableError

    setup_dossier(api)
    total = len(outbox_rows(database))
    outbox = SqlOutbox(database)
    publisher = CutsTheDatabase(RabbitPublisher(broker, "vigie-test-relay"), database, 3)
    relay = Relay(outbox, publisher, RelayMetrics(outbox), batch=5)
    with pytest.raises(StoreUnavailableError):
        relay.step()  # the whole batch of five confirmed, then its commit fails
    assert all(r[3] == "pending" for r in outbox_rows(database))
    assert relay.drain() == total  # the pool reconnects; the batch goes again
    ids = [int(p.message_id) for p, _ in queued(broker)]
    assert sorted(set(ids)) == sorted(r[0] for r in outbox_rows(database))  # lost = 0
    assert len(ids) == total + 5  # the first batch, confirmed before the loss, sent twice


def test_a_document_deposited_invisible_to_the_patient_is_announced_without_its_type(
    api: Api, database: Database, broker: Any
) -> None:
    """POLICY.md §6: every deposit by a PS notifies the holder; for a result deposited
    invisible to the patient (to be announced in person) the message quotes no type, and the
    notice says only that a document was added, to be presented by a professional."""
    from api.notice import render
    from engine.tables import Tables
    from policy import load

    setup_dossier(api)
    secret = {"document_id": "hiv", "type_code": "11502-2", "invisible_to_patient": True}
    assert api.call("gp2", "POST", "/v1/dossiers/P1/documents", secret).status_code == 201
    make_relay(database, broker).drain()
    added = sorted(
        (b for _, b in queued(broker) if b["type"] == "notify.document_added"),
        key=lambda b: b["seq"],
    )
    *earlier, hidden = added  # the secret deposit is the last one
    assert hidden["details"] == {}
    assert any(b["details"].get("document_type") == "11502-2" for b in earlier)  # bio
    tables = Tables.parse(load().texts)
    notice = render(hidden, "patient", tables)
    label = tables.describe("11502-2").label  # type: ignore[union-attr]
    assert label not in notice.text and label not in notice.html
    assert "il vous sera présenté par votre professionnel de santé" in notice.text
