"""Server-rendered pages: the patient's access history and the security team's desk.

Every read or change a page makes goes through the JSON API itself, with the user's own token
(:mod:`api.web.gateway`), so it is authenticated, decided and traced exactly as an API call.
The pages only add a session (server-side, ``api.web.session``: a signed, HTTP-only,
SameSite=Strict cookie names it, the token stays on the server), CSRF tokens on every form,
and French-first labels with English available.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from api.web import desk, dossier, guard  # noqa: F401 (each module adds its views)
from api.web.blueprint import web
from api.web.jobs import LedgerCheck
from api.web.session import WebSessions

SESSION_KEY_LABEL = b"vigie/web/session-key/v1"
API_PREFIX = "/v1/"
"""Paths of the JSON API, which authenticates by bearer token and has no cookie session."""


class PageSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session (a page's CSRF token and language), for the pages only.
    A request of the JSON API gets Flask's null session: none of its routes reads a session,
    and opening the cookie one builds a signing serializer on every request (about 14 us,
    2-5 % of a decision's CPU in the granian workers; py-spy, issue 17). The pages' own
    in-process API calls (``api.web.gateway``) carry a bearer token and no cookie either."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Register the pages on ``app`` (built by ``create_app``, whose keys are loaded).

    The session secret is derived from the patient_ref secret with a fixed label, so every
    worker of one deployment agrees on it and there is no default secret."""
    keys = app.extensions["vigie.keys"]
    app.secret_key = hmac.new(keys.patient_ref_secret, SESSION_KEY_LABEL, sha256).digest()
    app.session_interface = PageSessions()
    app.config.update(
        SESSION_COOKIE_NAME="vigie_session",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
    )
    app.extensions["vigie.web.ledger_check"] = LedgerCheck()
    service = app.extensions["vigie"]
    app.extensions["vigie.web.sessions"] = WebSessions(
        service.database, keys.patient_ref_secret, service.clock
    )
    app.register_blueprint(web)
