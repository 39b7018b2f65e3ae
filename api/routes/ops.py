"""Operations: health, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app

from api.endpoint import RouteTable
from api.problem import unavailable
from api.schema import ANY_OBJECT, PROBLEM
from models.errors import StoreError

routes = RouteTable("ops", "operations")


@routes.route(
    "GET", "/healthz", "The process is up", auth=False, responses={200: ("Up", ANY_OBJECT)}
)
def healthz() -> Any:
    return {"status": "ok"}


@routes.route(
    "GET",
    "/readyz",
    "Database reachable, schema current, keys loaded",
    auth=False,
    responses={200: ("Ready", ANY_OBJECT), 503: ("Not ready", PROBLEM)},
)
def readyz() -> Any:
    try:
        current_app.extensions["vigie"].database.check_ready()
    except StoreError as exc:
        raise unavailable(f"not ready: {exc}") from None
    return {
        "status": "ready",
        "policy_version": current_app.extensions["vigie"].engine.policy_version,
    }


@routes.route(
    "GET",
    "/metrics",
    "Prometheus metrics",
    auth=False,
    responses={200: ("Prometheus text format", None)},
    content_type="text/plain",
)
def metrics() -> Any:
    body = current_app.extensions["vigie.metrics"].render()
    return Response(body, mimetype="text/plain; version=0.0.4")


@routes.route(
    "GET",
    "/openapi.json",
    "This document",
    auth=False,
    responses={200: ("OpenAPI 3.1", ANY_OBJECT)},
)
def openapi() -> Any:
    return current_app.extensions["vigie.openapi"]
