"""RFC 9457 problem details: the one place where errors become HTTP answers."""

from __future__ import annotations

from typing import Any

from flask import Response, json

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
