"""The relay's other broker: NATS JetStream through ``nats-py`` (``vigie notify relay
--broker nats``; RabbitMQ stays the default, and ``vigie notify mail`` reads RabbitMQ only).

Messages go to the subject ``<VIGIE_NOTIFY_EXCHANGE>.<obligation type>`` of a file-backed
stream named after the exchange (``vigie.notifications`` -> ``VIGIE_NOTIFICATIONS``, created
if missing). Each carries the header ``Nats-Msg-Id`` = the outbox id, so the server itself
drops a republished row within the stream's duplicate window (two minutes by default):
``publish`` returns once the stream acknowledged the message as stored, or as such a
duplicate (counted in ``duplicates``), and raises ``BrokerError`` otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats
import nats.errors
import nats.js.errors

from api.broker import BrokerError

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
_FAILURES = (nats.errors.Error, OSError, asyncio.TimeoutError)


async def _quiet(_error: Exception) -> None:
    return None


def stream_name(exchange: str) -> str:
    """The stream of an exchange name: ``vigie.notifications`` -> ``VIGIE_NOTIFICATIONS``."""
    return "".join(c if c.isalnum() else "_" for c in exchange).upper()


class JetStreamPublisher:
    """The ``api.relay.Publisher`` of a JetStream stream (synchronous: one event loop of its
    own). Connects on first use and again after any failure."""

    def __init__(self, url: str, exchange: str, timeout: float = 5.0) -> None:
        self.url = url
        self.prefix = exchange
        self.stream = stream_name(exchange)
        self.timeout = timeout
        self.duplicates = 0
        self._loop = asyncio.new_event_loop()
        self._client: Any = None
        self._js: Any = None

    def connect(self) -> None:
        """Connect and make sure the stream exists now."""
        try:
            self._loop.run_until_complete(self._open())
        except _FAILURES as exc:
            self.close()
            raise BrokerError(
                f"cannot use NATS at {self.url} (VIGIE_NATS_URL): {type(exc).__name__}"
            ) from None

    async def _open(self) -> None:
        if self._js is not None and self._client.is_connected:
            return
        await self._shut()
        client = await asyncio.wait_for(
            nats.connect(
                self.url,
                connect_timeout=3,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # 0 would mean "no limit"
                error_cb=_quiet,  # the default prints each failure; BrokerError says it once
            ),
            timeout=10,
        )
        js = client.jetstream(timeout=self.timeout)
        try:
            await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(name=self.stream, subjects=[f"{self.prefix}.>"], storage="file")
        self._client, self._js = client, js

    def publish(self, message_id: str, routing_key: str, body: bytes, timestamp: int) -> None:
        """Publish one message and wait for the stream's acknowledgement."""
        self.connect()
        subject = f"{self.prefix}.{routing_key}"
        headers = {"Nats-Msg-Id": message_id, "Content-Type": "application/json"}
        try:
            ack = self._loop.run_until_complete(
                self._js.publish(subject, body, timeout=self.timeout, headers=headers)
            )
        except _FAILURES as exc:
            self.close()
            raise BrokerError(
                f"message {message_id} not acknowledged: {type(exc).__name__}"
            ) from None
        if ack.duplicate:
            self.duplicates += 1

    def close(self) -> None:
        with contextlib.suppress(*_FAILURES):
            self._loop.run_until_complete(self._shut())

    async def _shut(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            await client.close()
