"""Route declarations: one ``@route`` per endpoint carries its schemas, so the same data
validates the request (bodies, query parameters) and writes the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, g, request
from jsonschema import Draft202012Validator, FormatChecker

from api.auth import AuthenticationError
from api.problem import ProblemError, bad_request, unauthorized, unprocessable
from api.schema import PROBLEM, Schema
from engine.model import Actor

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # Flask syntax, e.g. /v1/dossiers/<pid>
    summary: str
    handler: Handler
    body: Schema | None = None
    query: dict[str, Schema] = field(default_factory=dict)
    required_query: tuple[str, ...] = ()
    responses: dict[int, tuple[str, Schema | None]] = field(default_factory=dict)
    auth: bool = True
    content_type: str = "application/json"
    tag: str = "vigie"


_FORMATS = FormatChecker()


class RouteTable:
    """The endpoints of one blueprint, in declaration order."""

    def __init__(self, name: str, tag: str) -> None:
        self.blueprint = Blueprint(name, __name__)
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        body: Schema | None = None,
        query: dict[str, Schema] | None = None,
        required_query: tuple[str, ...] = (),
        responses: dict[int, tuple[str, Schema | None]] | None = None,
        auth: bool = True,
        content_type: str = "application/json",
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            endpoint = Endpoint(
                method,
                path,
                summary,
                handler,
                body,
                dict(query or {}),
                required_query,
                dict(responses or {200: ("OK", None)}),
                auth,
                content_type,
                self.tag,
            )
            self.endpoints.append(endpoint)
            body_validator = Draft202012Validator(body, format_checker=_FORMATS) if body else None

            def view(**path_args: Any) -> Any:
                if auth:
                    authenticate()
                kwargs = dict(path_args)
                if body_validator is not None:
                    kwargs["body"] = _parse_body(body_validator)
                if endpoint.query or request.args:
                    kwargs["query"] = _parse_query(endpoint)
                return handler(**kwargs)

            view.__name__ = handler.__name__
            self.blueprint.add_url_rule(
                path, endpoint=handler.__name__, view_func=view, methods=[method]
            )
            return handler

        return register


def _field_of(error: Any) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return ".".join(filter(None, [path, extra[0] if extra else ""]))
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return ".".join(filter(None, [path, missing]))
    return path


def _first_error(validator: Draft202012Validator, instance: Any) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        name = _field_of(error)
        if error.validator == "additionalProperties":
            raise unprocessable(f"unknown field {name!r}", name)
        where = f"field {name!r}: " if name else ""
        raise unprocessable(f"{where}{error.message}", name or None)


def _parse_body(validator: Draft202012Validator) -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        raise bad_request("a JSON body is required")
    mimetype = request.mimetype or ""
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ProblemError(
            415, "Unsupported media type", f"expected application/json, got {mimetype}"
        )
    try:
        document = request.get_json(force=True, silent=False)
    except Exception:
        raise bad_request("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise unprocessable("the body must be a JSON object")
    _first_error(validator, document)
    return document


def _coerce(name: str, raw: str, schema: Schema) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise unprocessable(f"query parameter {name!r} must be an integer", name) from None
    if schema.get("format") == "date-time":
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise unprocessable(
                f"query parameter {name!r} must be an RFC 3339 date-time", name
            ) from None
        if moment.tzinfo is None:
            raise unprocessable(f"query parameter {name!r} needs a time zone", name)
        return raw
    return raw


def _parse_query(endpoint: Endpoint) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in request.args:
        if name not in endpoint.query:
            raise unprocessable(f"unknown query parameter {name!r}", name)
        if len(request.args.getlist(name)) > 1:
            raise unprocessable(f"query parameter {name!r} given twice", name)
        values[name] = _coerce(name, request.args[name], endpoint.query[name])
    for name in endpoint.required_query:
        if name not in values:
            raise unprocessable(f"query parameter {name!r} is required", name)
    schema = {"type": "object", "properties": endpoint.query}
    _first_error(Draft202012Validator(schema, format_checker=_FORMATS), values)
    for name, value in list(values.items()):
        if endpoint.query[name].get("format") == "date-time":
            values[name] = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return values


def request_id() -> str:
    return str(getattr(g, "request_id", ""))


def authenticate() -> None:
    """Verify the bearer token and keep the actor on ``g`` (401 problem otherwise)."""
    verifier = current_app.extensions["vigie.verifier"]
    try:
        g.actor, g.claims = verifier.actor(request.headers.get("Authorization"))
    except AuthenticationError as exc:
        raise unauthorized(str(exc)) from None


def current_actor() -> Actor:
    actor: Actor = g.actor
    return actor


ERROR_RESPONSES = {
    400: ("Malformed request", PROBLEM),
    401: ("Missing or invalid token", PROBLEM),
    422: ("Invalid request", PROBLEM),
    503: ("Store unavailable: nothing was decided or recorded", PROBLEM),
}
