"""Every read and change of a page is a call of the JSON API itself, made with the signed-in
user's token, so the policy decides it and the ledger traces it exactly as any API call.

The call is dispatched inside the process (a WSGI call of the same app, in an application
context of its own so the inner request gets its own ``g``), with ``Authorization: Bearer``
and an ``X-Request-Id`` derived from the page's request id.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import structlog
from flask import current_app, g
from werkzeug.test import Client


@dataclass(frozen=True)
class Answer:
    """The API's answer: status, body bytes, media type and the headers pages pass on."""

    status: int
    body: bytes
    mimetype: str
    disposition: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def reason(self) -> str:
        """The policy reason id of a denial, else the problem's detail or title."""
        problem = self.json()
        if not isinstance(problem, dict):
            return f"HTTP {self.status}"
        return str(problem.get("reason") or problem.get("detail") or problem.get("title") or "")


_counter = itertools.count(1)


def segment(value: str) -> str:
    """One path segment (an id) of an API URL, percent-encoded."""
    return quote(value, safe="")


def call(
    method: str,
    path: str,
    token: str | None,
    *,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
) -> Answer:
    """Call the JSON API of this app as the holder of ``token`` (None: no Authorization)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    headers = {"X-Request-Id": f"{g.get('request_id', 'web')}.api{next(_counter)}"[:128]}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    saved = structlog.contextvars.get_contextvars()
    kwargs: dict[str, Any] = {"headers": headers}
    if query:
        kwargs["query_string"] = {k: v for k, v in query.items() if v not in (None, "")}
    if body is not None:
        kwargs["json"] = body
    try:
        with app.app_context():  # a fresh `g` for the inner request
            response = Client(app).open(path, method=method, **kwargs)
            data = response.get_data()
            answer = Answer(
                response.status_code,
                data,
                response.mimetype or "",
                response.headers.get("Content-Disposition"),
            )
            response.close()
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**saved)
    return answer
