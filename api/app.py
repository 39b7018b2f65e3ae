"""``create_app(settings)``: the composition root. Nothing happens at import."""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

import policy
from api.auth import TokenVerifier
from api.config import Keys, Settings, load_keys
from api.endpoint import RouteTable
from api.logs import configure_logging
from api.metrics import Metrics
from api.openapi import openapi_document
from api.problem import ProblemError, problem_response, unavailable
from api.routes import decision, dossier, ops, trace
from api.routes import ledger as ledger_routes
from api.server import bounded_body
from api.service import Service, utc_now
from api.web import init_app as init_web_pages
from api.witnessing import Witnessing, load_witnesses
from engine.decide import PolicyEngine
from ledger.entry import Appender
from models.database import Database
from models.errors import ConflictError, StoreError, StoreUnavailableError
from models.outbox import SqlOutbox

MAX_BODY = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_log = structlog.get_logger("vigie.http")


def create_app(
    settings: Settings,
    *,
    keys: Keys | None = None,
    database: Database | None = None,
    clock: Callable[[], datetime] = utc_now,
    background: bool = False,
    configure_logs: bool = True,
) -> Flask:
    """Build the service. ``background`` starts the periodic checkpoint signer (servers do;
    tests sign explicitly). Raises ``ConfigError`` for missing or unusable keys."""
    if configure_logs:
        configure_logging(settings.log_level)
    keys = keys or load_keys(settings)
    engine = PolicyEngine(policy.load(settings.policy_dir))
    database = database or Database(
        settings.database_url, statement_timeout_ms=settings.statement_timeout_ms
    )

    service = Service(
        engine,
        database,
        Appender(keys.patient_ref_secret, clock, secrets.token_bytes),
        keys.ledger_signer,
        settings.ledger_origin,
        clock,
    )
    app = Flask("vigie")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.wsgi_app = bounded_body(app.wsgi_app, MAX_BODY)  # type: ignore[method-assign,assignment]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    tables: list[RouteTable] = [
        decision.routes,
        dossier.routes,
        trace.routes,
        ledger_routes.routes,
        ops.routes,
    ]
    for table in tables:
        app.register_blueprint(table.blueprint)
    metrics = Metrics(lambda: _ledger_size(database), SqlOutbox(database))
    app.extensions.update(
        {
            "vigie": service,
            "vigie.settings": settings,
            "vigie.keys": keys,
            "vigie.verifier": TokenVerifier(
                keys.token_keys,
                settings.jwt_issuer,
                settings.jwt_audience,
                settings.jwt_max_lifetime,
            ),
            "vigie.metrics": metrics,
            "vigie.openapi": openapi_document(
                tables, engine.policy_version[:12], engine.tables.document_types
            ),
        }
    )
    init_web_pages(app)  # the HTML pages (api/web): session secret derived from the keys
    if settings.witnesses is not None:
        witnessing = start_witnessing(settings, database, metrics)
        service.on_checkpoint = witnessing.checkpoint_signed
        app.extensions["vigie.witnessing"] = witnessing
    _install_hooks(app, metrics)
    if background:
        checkpointer = Checkpointer(service, settings.checkpoint_interval)
        app.extensions["vigie.checkpointer"] = checkpointer
        checkpointer.start()
    return app


def start_witnessing(settings: Settings, database: Database, metrics: Metrics) -> Witnessing:
    """The witnesses of ``VIGIE_WITNESSES``, pushed to by threads of their own."""
    assert settings.witnesses is not None
    witnesses = load_witnesses(settings.witnesses)
    quorum = len(witnesses) if settings.witness_quorum is None else settings.witness_quorum
    witnessing = Witnessing(database, witnesses, quorum)
    metrics.registry.register(witnessing.collector())
    witnessing.start()
    return witnessing


def _ledger_size(database: Database) -> int | None:
    try:
        with database.read_only() as uow:
            return uow.ledger.head().size
    except StoreError:
        return None


def _install_hooks(app: Flask, metrics: Metrics) -> None:
    @app.before_request
    def start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else str(uuid.uuid4())
        g.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.latency.labels(route, str(response.status_code)).observe(elapsed)
        outcome = g.get("outcome")
        fields: dict[str, Any] = {
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "ms": round(elapsed * 1000, 2),
        }
        if outcome is not None:
            decision_ = outcome.decision
            metrics.decisions.labels(
                outcome.action.value, decision_.effect.value, decision_.reason.value
            ).inc()
            fields.update(
                decision=decision_.effect.value,
                reason=decision_.reason.value,
                seq=outcome.entry.seq,
            )
        if response.status_code == 503:
            metrics.unavailable.inc()
        _log.info("request", **fields)
        return response

    @app.errorhandler(ProblemError)
    def problem(error: ProblemError) -> Response:
        return problem_response(error, g.get("request_id"))

    @app.errorhandler(StoreUnavailableError)
    def store_down(error: StoreUnavailableError) -> Response:
        _log.warning("store_unavailable", error=type(error).__name__)
        return problem_response(
            unavailable("the database is unavailable: nothing was decided or recorded"),
            g.get("request_id"),
        )

    @app.errorhandler(ConflictError)
    def conflict(error: ConflictError) -> Response:
        return problem_response(ProblemError(409, "Conflict", str(error)), g.get("request_id"))

    @app.errorhandler(StoreError)
    def store_error(error: StoreError) -> Response:
        _log.error("store_error", error=type(error).__name__)
        return problem_response(
            unavailable("the store failed: nothing was decided or recorded"), g.get("request_id")
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        detail = "request body larger than 1 MiB" if status == 413 else (error.description or "")
        response = problem_response(ProblemError(status, error.name, detail), g.get("request_id"))
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        logging.getLogger("vigie.http").exception("unexpected error")
        return problem_response(
            ProblemError(
                500,
                "Internal error",
                "an unexpected error occurred; nothing was "
                "permitted. Quote the request id to the operators.",
                slug="internal",
            ),
            g.get("request_id"),
        )


class Checkpointer(threading.Thread):
    """Signs a checkpoint every ``interval`` seconds while entries arrive (LEDGER.md)."""

    def __init__(self, service: Service[Database], interval: float) -> None:
        super().__init__(name="vigie-checkpointer", daemon=True)
        self._service = service
        self._interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self._interval):
            try:
                self._service.checkpoint_now()
            except Exception:  # the next tick tries again; the failure is logged
                logging.getLogger("vigie.checkpoint").exception("checkpoint signing failed")
