"""``vigie notify relay --broker nats``: the outbox relayed to the machine's NATS JetStream,
one stored message per row with ``Nats-Msg-Id`` = the row id; a republished row is dropped by
the server itself (duplicate window) and counted by the relay."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

from api.jetstream import JetStreamPublisher
from api.relay import Relay, RelayMetrics
from models.database import Database
from models.outbox import SqlOutbox
from tests.api.conftest import Api, setup_dossier
from tests.api.test_notify_relay import outbox_rows

NATS_URL = os.environ.get("VIGIE_TEST_NATS", "nats://127.0.0.1:4222")


async def _stream(stream: str, *, delete: bool = False) -> list[tuple[str, bytes]]:
    import nats

    client = await nats.connect(NATS_URL, connect_timeout=3, allow_reconnect=False)
    try:
        js = client.jetstream()
        if delete:
            await js.delete_stream(stream)
            return []
        info = await js.stream_info(stream)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(stream, seq)
            found.append(((message.headers or {}).get("Nats-Msg-Id", ""), message.data or b""))
        return found
    finally:
        await client.close()


@pytest.fixture
def exchange() -> Iterator[str]:
    """A subject prefix (and so a stream) of this test only, deleted afterwards."""
    name = f"vigie.test.{uuid.uuid4().hex[:12]}"
    publisher = JetStreamPublisher(NATS_URL, name)
    try:
        publisher.connect()
    except Exception as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"NATS unreachable at {NATS_URL} in CI: {exc}")
        pytest.skip(f"NATS unreachable: {exc}")
    publisher.close()
    try:
        yield name
    finally:
        asyncio.run(_stream(publisher.stream, delete=True))


def test_relay_to_jetstream_one_message_per_row_and_duplicates_dropped_by_the_server(
    api: Api, database: Database, exchange: str
) -> None:
    setup_dossier(api)
    rows = outbox_rows(database)
    outbox = SqlOutbox(database)
    publisher = JetStreamPublisher(NATS_URL, exchange)
    relay = Relay(outbox, publisher, RelayMetrics(outbox), batch=4)
    try:
        assert relay.drain() == len(rows)
        with database.unlocked_write() as uow:  # as if the commit had been lost
            from sqlalchemy import text

            uow.session.execute(text("UPDATE notifications SET status = 'pending'"))
        assert relay.drain() == len(rows)
    finally:
        publisher.close()
    stored = asyncio.run(_stream(publisher.stream))
    assert [int(i) for i, _ in stored] == sorted(r[0] for r in rows)  # once each, in order
    assert publisher.duplicates == len(rows)
    assert all(r[3] == "delivered" for r in outbox_rows(database))
    assert b'"patient_ref"' in stored[0][1]
