"""The message broker the outbox is relayed to: RabbitMQ through ``pika``.

``BrokerSettings.from_env()`` reads ``VIGIE_AMQP_URL``, ``VIGIE_NOTIFY_EXCHANGE`` and
``VIGIE_NOTIFY_QUEUE``. ``RabbitPublisher`` declares a durable topic exchange (and, unless the
queue name is empty, a durable queue bound to it with ``#``, so that no message is ever
unroutable), turns publisher confirms on, and publishes persistent messages: ``publish``
returns only once the broker confirmed the message (written to the durable queue), and raises
``BrokerError`` otherwise (nack, unroutable, connection lost). ``RabbitConsumer`` reads that
queue with manual acknowledgements. Nothing here logs a message body.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from api.config import ConfigError

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_EXCHANGE = DEFAULT_QUEUE = "vigie.notifications"
CONTENT_TYPE = "application/json"


class BrokerError(Exception):
    """The broker did not take a message (refused, unroutable, or the connection is gone)."""


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where notifications go: the AMQP URL, the exchange, and the queue bound to it (empty:
    the relay declares none, and someone else must bind one before it runs)."""

    url: str = DEFAULT_URL
    exchange: str = DEFAULT_EXCHANGE
    queue: str = DEFAULT_QUEUE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BrokerSettings:
        values = os.environ if env is None else env
        url = values.get("VIGIE_AMQP_URL") or DEFAULT_URL
        if not url.startswith(("amqp://", "amqps://")):
            raise ConfigError("VIGIE_AMQP_URL must start with amqp:// or amqps://")
        exchange = values.get("VIGIE_NOTIFY_EXCHANGE") or DEFAULT_EXCHANGE
        queue = values.get("VIGIE_NOTIFY_QUEUE", DEFAULT_QUEUE)
        return cls(url, exchange, queue)


def _connect(url: str, name: str) -> pika.BlockingConnection:
    parameters = pika.URLParameters(url)
    parameters.client_properties = {"connection_name": name}
    parameters.socket_timeout = 5
    if "heartbeat" not in url:
        parameters.heartbeat = 20  # a silent broker is noticed within ~40 s, not minutes
    parameters.blocked_connection_timeout = 30
    parameters.connection_attempts = 1
    try:
        return pika.BlockingConnection(parameters)
    except (pika.exceptions.AMQPError, OSError) as exc:
        where = f"{parameters.host}:{parameters.port}"
        raise BrokerError(
            f"cannot connect to the broker at {where}: {type(exc).__name__}"
        ) from None


class RabbitPublisher:
    """Confirmed, persistent publishing to ``settings.exchange``; connects on first use and
    again after any failure (call :meth:`close` after a ``BrokerError``)."""

    def __init__(self, settings: BrokerSettings, connection_name: str = "vigie-relay") -> None:
        self.settings = settings
        self.connection_name = connection_name
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def connect(self) -> None:
        """Connect and declare now (a command checks its settings at start this way)."""
        self._open()

    def _open(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        self._connection = _connect(self.settings.url, self.connection_name)
        try:
            channel = self._connection.channel()
            declare(channel, self.settings)
            channel.confirm_delivery()
        except (pika.exceptions.AMQPError, OSError) as exc:
            self.close()
            raise BrokerError(f"cannot set up the channel: {type(exc).__name__}") from None
        self._channel = channel
        return channel

    def publish(self, message_id: str, routing_key: str, body: bytes, timestamp: int) -> None:
        """Publish one persistent message and wait for the broker's confirm."""
        channel = self._open()
        properties = pika.BasicProperties(
            content_type=CONTENT_TYPE,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message_id,
            timestamp=timestamp,
            type=routing_key,
        )
        try:
            channel.basic_publish(
                self.settings.exchange, routing_key, body, properties, mandatory=True
            )
        except (pika.exceptions.AMQPError, OSError) as exc:
            self.close()
            raise BrokerError(f"message {message_id} not confirmed: {type(exc).__name__}") from None

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()  # may be gone already: nothing to release


def declare(channel: BlockingChannel, settings: BrokerSettings) -> None:
    """The durable exchange, and the durable queue bound to every routing key."""
    channel.exchange_declare(settings.exchange, exchange_type="topic", durable=True)
    if settings.queue:
        channel.queue_declare(settings.queue, durable=True)
        channel.queue_bind(settings.queue, settings.exchange, routing_key="#")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message read from the queue; :meth:`RabbitConsumer.ack` it once handled."""

    tag: int
    message_id: str | None
    body: bytes
    redelivered: bool


class RabbitConsumer:
    """Reads ``settings.queue`` with manual acknowledgements (an unacknowledged message comes
    back after a crash: at least once)."""

    def __init__(self, settings: BrokerSettings, connection_name: str = "vigie-mail") -> None:
        if not settings.queue:
            raise ConfigError("VIGIE_NOTIFY_QUEUE is empty: the consumer needs a queue to read")
        self.settings = settings
        self._connection = _connect(settings.url, connection_name)
        self._channel = self._connection.channel()
        declare(self._channel, settings)
        self._channel.basic_qos(prefetch_count=50)

    def deliveries(self, idle: float) -> Iterator[Delivery | None]:
        """Messages as they come; None after ``idle`` seconds without one."""
        try:
            for method, properties, body in self._channel.consume(
                self.settings.queue, inactivity_timeout=idle
            ):
                if method is None:
                    yield None
                    continue
                yield Delivery(
                    method.delivery_tag, properties.message_id, body or b"", method.redelivered
                )
        except (pika.exceptions.AMQPError, OSError) as exc:
            raise BrokerError(f"lost the broker: {type(exc).__name__}") from None

    def ack(self, delivery: Delivery) -> None:
        self._channel.basic_ack(delivery.tag)

    def reject(self, delivery: Delivery) -> None:
        """Give the message back to the queue (another try later, or by another consumer)."""
        self._channel.basic_nack(delivery.tag, requeue=True)

    def close(self) -> None:
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):  # may be gone already
            if self._channel.is_open:
                self._channel.cancel()
            if self._connection.is_open:
                self._connection.close()
