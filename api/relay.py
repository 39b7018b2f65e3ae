"""``vigie notify relay``: the outbox relayed to the broker, at least once, in commit order.

Each step claims a batch of pending rows (``models.outbox``: ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), publishes each as one persistent message whose AMQP ``message_id`` is the row's
id, waits for the broker's confirm of each, and marks delivered only the confirmed rows. A
failure between the confirm and the commit (the relay killed, the database gone) leaves the
row pending: it is published again later with the same ``message_id``. That is the only way a
duplicate arises; consumers drop a message_id they already handled.

The message (JSON, routing key = the obligation type)::

    {"id": 42, "type": "notify.emergency_access", "recipients": ["patient", "treating_doctor"],
     "patient_ref": "<64 hex>", "patient_id": "2780576123456", "seq": 17,
     "time": "2026-12-04T03:12:09.123456Z", "mode": "break_glass",
     "details": {"actor_name": "Dr …", "actor_profession": "10", "justification": "…"}}

``patient_ref`` is the ledger's pseudonymous reference; ``patient_id`` is there because the
dossier service that owns the patient's contact details knows patients by their id, not by a
reference keyed with Vigie's secret. ``details`` holds only what the notice of that type
quotes (``NOTICE_DETAILS``). Logs carry ids, counts and seqs, never a patient id or a detail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter

from api.broker import BrokerError
from api.metrics import OutboxBacklog
from engine.vocabulary import ObligationType
from models.errors import StoreError
from models.outbox import PendingNotification, SqlOutbox

log = structlog.get_logger("vigie.notify")

NOTICE_DETAILS: dict[str, tuple[str, ...]] = {
    ObligationType.DOSSIER_CREATED.value: (),
    ObligationType.FIRST_ACCESS.value: ("actor_id", "actor_name", "actor_profession"),
    ObligationType.DOCUMENT_ADDED.value: ("document_type",),
    ObligationType.EMERGENCY_ACCESS.value: (
        "actor_id",
        "actor_name",
        "actor_profession",
        "justification",
    ),
    ObligationType.PENDING_RESULT.value: (),
}


class Publisher(Protocol):
    def publish(self, message_id: str, routing_key: str, body: bytes, timestamp: int) -> None: ...

    def close(self) -> None: ...


def utc_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message_of(item: PendingNotification) -> dict[str, Any]:
    """The message body of one outbox row (see the module docstring)."""
    wanted = NOTICE_DETAILS.get(item.type, ())
    return {
        "id": item.id,
        "type": item.type,
        "recipients": list(item.recipients),
        "patient_ref": item.patient_ref,
        "patient_id": item.patient_id,
        "seq": item.entry_seq,
        "time": utc_time(item.entry_time),
        "mode": item.mode,
        "details": {k: item.details[k] for k in wanted if k in item.details},
    }


class RelayMetrics:
    """The relay's own counters and the outbox backlog (``--metrics-port``)."""

    def __init__(self, outbox: SqlOutbox, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.published = Counter(
            "vigie_notify_published", "Messages sent to the broker", registry=self.registry
        )
        self.confirmed = Counter(
            "vigie_notify_confirmed",
            "Messages the broker confirmed (then marked delivered)",
            registry=self.registry,
        )
        self.failures = Counter(
            "vigie_notify_failures",
            "Relay steps that failed, by what failed",
            ["kind"],
            registry=self.registry,
        )
        self.registry.register(OutboxBacklog(outbox))


@dataclass
class Step:
    """What one step did: rows claimed, confirmed (and marked delivered)."""

    claimed: int = 0
    confirmed: int = 0


class Relay:
    """Moves pending outbox rows to ``publisher``, ``batch`` rows per transaction."""

    def __init__(
        self,
        outbox: SqlOutbox,
        publisher: Publisher,
        metrics: RelayMetrics,
        *,
        batch: int = 100,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.metrics = metrics
        self.batch = batch
        self.clock = clock or (lambda: datetime.now(UTC))

    def step(self) -> Step:
        """Claim one batch, publish it, mark the confirmed rows. Raises ``BrokerError`` (after
        marking what was confirmed before the failure) or ``StoreError``."""
        done = Step()
        failure: BrokerError | None = None
        with self.outbox.claim(self.batch) as claim:
            confirmed: list[int] = []
            done.claimed = len(claim.items)
            try:
                for item in claim.items:
                    body = json.dumps(message_of(item), ensure_ascii=False).encode()
                    self.metrics.published.inc()
                    self.publisher.publish(
                        str(item.id), item.type, body, int(item.entry_time.timestamp())
                    )
                    self.metrics.confirmed.inc()
                    confirmed.append(item.id)
            except BrokerError as exc:
                failure = exc
            claim.delivered(confirmed, self.clock())
        done.confirmed = len(confirmed)
        if confirmed:
            log.info("notify.relayed", rows=len(confirmed), first_id=confirmed[0],
                     last_id=confirmed[-1])  # fmt: skip
        if failure is not None:
            raise failure
        return done

    def drain(self) -> int:
        """Steps until no row is pending; the number of rows delivered (``--once``)."""
        total = 0
        while True:
            done = self.step()
            total += done.confirmed
            if done.claimed < self.batch:
                return total

    def run(
        self,
        stop: threading.Event,
        *,
        idle: float = 1.0,
        max_backoff: float = 10.0,
    ) -> None:
        """Relay until ``stop`` is set: a step at once while rows come, every ``idle``
        seconds otherwise; after a broker or database failure, wait (doubling, up to
        ``max_backoff``) and try again, reconnecting."""
        backoff = 0.0
        while not stop.is_set():
            try:
                done = self.step()
            except BrokerError as exc:
                self._failed("broker", exc)
                backoff = min(max_backoff, max(0.2, backoff * 2))
                stop.wait(backoff)
                continue
            except StoreError as exc:
                self._failed("database", exc)
                backoff = min(max_backoff, max(0.2, backoff * 2))
                stop.wait(backoff)
                continue
            backoff = 0.0
            if done.claimed < self.batch:
                stop.wait(idle)

    def _failed(self, kind: str, exc: Exception) -> None:
        self.metrics.failures.labels(kind).inc()
        self.publisher.close()
        log.warning("notify.relay_failed", kind=kind, error=str(exc))
