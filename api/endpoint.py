"""Route declarations: one ``@route`` per endpoint carries its schemas, so the same data
validates the request (bodies, query parameters) and writes the OpenAPI document."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import fastjsonschema
from flask import Blueprint, current_app, g, request
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from api import identifiers
from api.auth import AuthenticationError, check_claim_codes, storable_text
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


@lru_cache(maxsize=256)
def _ecma_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` as JSON Schema reads it (ECMA 262): a final ``$`` is the end of the text,
    where Python's ``$`` also matches before a final newline (fastjsonschema reads it so)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Schema) -> Iterator[Any]:
    if isinstance(instance, str) and not _ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


#: Draft 2020-12 with ECMA ``pattern``: the reference validator of requests.
Validator = validators.extend(Draft202012Validator, {"pattern": _pattern})


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
            if body is not None and "mode" in body.get("properties", {}):
                # break glass is rate-limited (api.service): any call that takes a mode may be
                endpoint.responses.setdefault(429, RATE_LIMITED_RESPONSE)
            self.endpoints.append(endpoint)
            body_validator = BodyValidator(body) if body else None

            def view(**path_args: Any) -> Any:
                if auth:
                    authenticate()
                kwargs = {name: _path_value(name, value) for name, value in path_args.items()}
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


class BodyValidator:
    """A request body schema. jsonschema is the reference and names the faulty field, but it
    walks the schema for every value (1.4 ms of CPU for a batch of 50 ids); a compiled check
    (fastjsonschema: the schema turned into Python code) accepts valid bodies quickly, and
    whatever it refuses is judged again by jsonschema (tests/api check they agree)."""

    def __init__(self, schema: Schema) -> None:
        self.full = Validator(schema, format_checker=_FORMATS)
        self._fast = fastjsonschema.compile(schema)

    def check(self, document: Any) -> None:
        """Return if ``document`` is valid; raise the 422 problem of its first error. Both
        must accept it: should they ever disagree, the refusal stands (fail closed)."""
        try:
            self._fast(document)
        except fastjsonschema.JsonSchemaException as exc:
            _first_error(self.full, document)  # the reference names the field
            name = ".".join(str(p) for p in (getattr(exc, "path", None) or [])[1:])
            where = f"field {_brief(name)!r}: " if name else ""
            raise unprocessable(f"{where}invalid value", name or None) from None


def _first_error(validator: Any, instance: Any) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        name = _field_of(error)
        if error.validator == "additionalProperties":
            raise unprocessable(f"unknown field {_brief(name)!r}", name)
        where = f"field {_brief(name)!r}: " if name else ""
        raise unprocessable(f"{where}{_id_rule(error) or _brief_message(error)}", name or None)


def _id_rule(error: Any) -> str | None:
    """For an id of the wrong form, what an id must look like (api.identifiers)."""
    schema = error.schema
    if error.validator in ("pattern", "minLength", "maxLength") and isinstance(schema, dict):
        if schema.get("pattern") == identifiers.PROFESSIONAL_ID_PATTERN:
            return identifiers.PROFESSIONAL_RULE
        if schema.get("pattern") == identifiers.OPAQUE_ID_PATTERN:
            return identifiers.OPAQUE_RULE
    return None


def _brief(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _brief_message(error: Any) -> str:
    """The validator's message without echoing a long value back (a 4,000-character
    justification, a thousand ids): problem details stay short and carry no payload."""
    shown = repr(error.instance)
    if len(shown) <= 80:
        return str(error.message)
    size = len(error.instance) if hasattr(error.instance, "__len__") else None
    summary = f"{type(error.instance).__name__}" + (
        f" of length {size}" if size is not None else ""
    )
    return str(error.message).replace(shown, f"the {summary}")


def _path_value(name: str, value: Any) -> Any:
    """Path parameters are ids, checked as the same ids in bodies (api.identifiers)."""
    schema = identifiers.PATH_PARAMETERS.get(name)
    if schema is not None and not identifiers.matches(schema, value):
        raise unprocessable(f"path parameter {name!r}: {identifiers.rule(schema)}", name)
    return value


class DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused if it names a key twice (``json.loads`` would keep the last:
    two readers of the same body could then disagree on what it asks)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return document


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)  # built once: 4 us a call saved


def _loads(raw: bytes) -> Any:
    """``json.loads(raw)`` (the same encodings: UTF-8, -16, -32), refusing duplicate keys."""
    return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))


def _check_text(document: Any) -> None:
    """Reject strings no store can hold (NUL, lone surrogates), naming where they are."""
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if not storable_text(value):
                where = f"field {_brief(path)!r}: " if path else ""
                raise unprocessable(
                    f"{where}NUL characters and unpaired surrogates are not allowed", path or None
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if not storable_text(key):
                    raise unprocessable("field names may not hold NUL or unpaired surrogates")
                pending.append((child, item))
        elif isinstance(value, list):
            pending.extend((f"{path}.{index}", item) for index, item in enumerate(value))


def _parse_body(validator: BodyValidator) -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        raise bad_request("a JSON body is required")
    mimetype = request.mimetype or ""
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ProblemError(
            415, "Unsupported media type", f"expected application/json, got {mimetype}"
        )
    try:
        document = _loads(raw)
    except DuplicateKeyError as exc:
        key = exc.key if storable_text(exc.key) else "?"
        raise bad_request(f"the body names the field {_brief(key)!r} twice", key) from None
    except (ValueError, RecursionError):
        raise bad_request("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise unprocessable("the body must be a JSON object")
    _check_text(document)
    validator.check(document)
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
        try:  # stores compare in UTC: 9999-12-31T23:59:59-23:59 is past year 9999 there
            moment.astimezone(UTC)
        except OverflowError:
            raise unprocessable(
                f"query parameter {name!r} is out of range once converted to UTC "
                "(years 0001 to 9999)",
                name,
            ) from None
        return raw
    return raw


def _parse_query(endpoint: Endpoint) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in request.args:
        if name not in endpoint.query:
            raise unprocessable(f"unknown query parameter {name!r}", name)
        if len(request.args.getlist(name)) > 1:
            raise unprocessable(f"query parameter {name!r} given twice", name)
        if not storable_text(request.args[name]):
            raise unprocessable(f"query parameter {name!r} holds a NUL character", name)
        values[name] = _coerce(name, request.args[name], endpoint.query[name])
    for name in endpoint.required_query:
        if name not in values:
            raise unprocessable(f"query parameter {name!r} is required", name)
    schema = {"type": "object", "properties": endpoint.query}
    _first_error(Validator(schema, format_checker=_FORMATS), values)
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
        actor, claims = verifier.actor(request.headers.get("Authorization"))
        check_claim_codes(current_app.extensions["vigie"].engine, actor)
    except AuthenticationError as exc:
        raise unauthorized(str(exc)) from None
    g.actor, g.claims = actor, claims


def current_actor() -> Actor:
    actor: Actor = g.actor
    return actor


RATE_LIMITED_RESPONSE = (
    "Over the actor's break-glass or export rate (policy/limits.csv): denied as rate.limited, "
    "traced; Retry-After",
    PROBLEM,
)
ERROR_RESPONSES = {
    400: ("Malformed request", PROBLEM),
    401: ("Missing or invalid token", PROBLEM),
    422: ("Invalid request", PROBLEM),
    503: ("Store unavailable: nothing was decided or recorded", PROBLEM),
}
