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

from flask import Flask

from api.web import desk, dossier, guard  # noqa: F401 (each module adds its views)
from api.web.blueprint import web
from api.web.jobs import LedgerCheck
from api.web.session import WebSessions

SESSION_KEY_LABEL = b"vigie/web/session-key/v1"


def init_app(app: Flask) -> None:
    """Register the pages on ``app`` (built by ``create_app``, whose keys are loaded).

    The session secret is derived from the patient_ref secret with a fixed label, so every
    worker of one deployment agrees on it and there is no default secret."""
    keys = app.extensions["vigie.keys"]
    app.secret_key = hmac.new(keys.patient_ref_secret, SESSION_KEY_LABEL, sha256).digest()
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
