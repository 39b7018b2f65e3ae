"""RFC 9457 problem details: the one place where errors become HTTP answers."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, json
from werkzeug.serving import WSGIRequestHandler

PROBLEM_TYPE = "https://vigie.local/problems/"


class ProblemError(Exception):
    """An error with its HTTP status; raised anywhere in ``api``, rendered as problem+json."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        slug: str | None = None,
        reason: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug or title.lower().replace(" ", "-")
        self.reason = reason
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        body.update(self.extra)
        return body


def problem_response(problem: ProblemError, request_id: str | None = None) -> Response:
    body = problem.body()
    if request_id:
        body["request_id"] = request_id
    response = Response(
        json.dumps(body), status=problem.status, mimetype="application/problem+json"
    )
    if problem.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="vigie"'
    if problem.status in (429, 503):
        response.headers["Retry-After"] = "1"
    return response


def bad_request(detail: str, field: str | None = None) -> ProblemError:
    return ProblemError(400, "Bad request", detail, extra={"field": field} if field else None)


def unprocessable(detail: str, field: str | None = None) -> ProblemError:
    return ProblemError(
        422,
        "Invalid request",
        detail,
        slug="invalid-request",
        extra={"field": field} if field else None,
    )


def forbidden(reason: str, detail: str, extra: dict[str, Any] | None = None) -> ProblemError:
    return ProblemError(403, "Forbidden", detail, slug="denied", reason=reason, extra=extra)


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "Unauthorized", detail)


def unavailable(detail: str) -> ProblemError:
    return ProblemError(503, "Service unavailable", detail, slug="unavailable")


class ProblemRequestHandler(WSGIRequestHandler):
    """The development server's request handler (``vigie serve --dev``), whose own errors,
    sent before the app is called (a request line over 64 KiB: 414; a header line too long
    or over 100 headers: 431; a malformed request line: 400), are problem+json like the
    app's instead of http.server's HTML page."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        short, long = self.responses.get(code, ("Error", ""))
        request_id = str(uuid.uuid4())
        problem = ProblemError(code, message or short, explain or long or message or short)
        body = json.dumps({**problem.body(), "request_id": request_id}).encode()
        self.log_error("code %d, message %s", code, message or short)
        self.send_response(code, message or short)
        self.send_header("Connection", "close")
        self.send_header("X-Request-Id", request_id)
        with_body = code >= 200 and code not in (204, 205, 304) and self.command != "HEAD"
        if with_body:
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)
