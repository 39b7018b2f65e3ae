"""Prometheus metrics: decisions by action/decision/reason, latency, ledger size, and the
notification outbox's backlog (``vigie notify relay`` adds its own counters, ``api.relay``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from models.errors import StoreError
from models.outbox import SqlOutbox


class Metrics:
    """One registry per app (tests build many apps)."""

    def __init__(
        self, ledger_size: Callable[[], int | None], outbox: SqlOutbox | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "vigie_decisions",
            "Decisions recorded",
            ["action", "decision", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vigie_request_seconds",
            "Request latency",
            ["route", "status"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.unavailable = Counter(
            "vigie_store_unavailable", "Requests answered 503", registry=self.registry
        )
        self.registry.register(_LedgerSize(ledger_size))
        if outbox is not None:
            self.registry.register(OutboxBacklog(outbox))
        self.up = Gauge("vigie_up", "1 while the process serves", registry=self.registry)
        self.up.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LedgerSize(Collector):
    def __init__(self, read: Callable[[], int | None]) -> None:
        self._read = read

    def collect(self):  # type: ignore[no-untyped-def]
        size = self._read()
        family = GaugeMetricFamily("vigie_ledger_entries", "Entries in the ledger")
        if size is not None:
            family.add_metric([], size)
        yield family


class OutboxBacklog(Collector):
    """``vigie_outbox_pending_rows`` and ``vigie_outbox_oldest_pending_seconds``, read from
    the database at each scrape (the partial index of pending rows answers; no sample when
    the database cannot be read)."""

    def __init__(self, outbox: SqlOutbox, clock: Callable[[], datetime] | None = None) -> None:
        self._outbox = outbox
        self._clock = clock or (lambda: datetime.now(UTC))

    def collect(self):  # type: ignore[no-untyped-def]
        rows = GaugeMetricFamily("vigie_outbox_pending_rows", "Outbox rows not yet delivered")
        age = GaugeMetricFamily(
            "vigie_outbox_oldest_pending_seconds", "Age of the oldest undelivered outbox row"
        )
        try:
            backlog = self._outbox.backlog()
        except StoreError:
            backlog = None
        if backlog is not None:
            rows.add_metric([], backlog.rows)
            oldest = backlog.oldest
            age.add_metric([], 0.0 if oldest is None else (self._clock() - oldest).total_seconds())
        yield rows
        yield age
