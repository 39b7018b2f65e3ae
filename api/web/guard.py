"""Sign-in with a pasted token, the session, CSRF and the language of every page.

The token is verified with the API's own ``TokenVerifier`` at sign-in and again on every
request, so an expired or revoked-key token ends the session at once. No page or form is
reachable without one. The token stays on the server (``api.web.session``): the cookie names
a session that signing out deletes. Every POST must carry the session's CSRF token (form
field ``csrf_token`` or header ``X-CSRF-Token``). After sign-in only a same-site path is
followed (``next``); anything else leads to the home page.
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.urls import iri_to_uri

from api.auth import AuthenticationError, check_claim_codes
from api.web.blueprint import web
from api.web.i18n import ACTOR_TYPES, BASES, DECISIONS, LANGUAGES, MODES, label, text
from api.web.session import WebSessions
from api.web.view import local_time
from api.web.wording import action_label
from engine.model import Actor
from engine.vocabulary import ActorType

PUBLIC_ENDPOINTS = frozenset({"web.login", "web.static"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def lang() -> str:
    return str(g.get("lang", "fr"))


def t(key: str, **values: Any) -> str:
    return text(key, lang(), **values)


def actor() -> Actor:
    found: Actor = g.web_actor
    return found


def token() -> str:
    return str(g.web_token)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    return bool(expected) and hmac.compare_digest(str(expected), given)


def error_page(message: str, status: int) -> tuple[str, int]:
    return render_template("web/error.html", message=message, status=status), status


def _verify(raw: str) -> tuple[Actor, datetime]:
    """The actor of a token and its expiry, with the API's own checks; raises
    AuthenticationError."""
    verifier = current_app.extensions["vigie.verifier"]
    found, claims = verifier.actor(f"Bearer {raw}")
    check_claim_codes(current_app.extensions["vigie"].engine, found)
    return found, datetime.fromtimestamp(float(claims["exp"]), UTC)


def _sessions() -> WebSessions:
    sessions: WebSessions = current_app.extensions["vigie.web.sessions"]
    return sessions


@web.before_request
def guard() -> Any:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    g.lang = session.get("lang", "fr")
    if request.method == "POST" and not _csrf_ok():
        return error_page(t("csrf_failed"), 400)
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    session_id = session.get("sid")
    raw = _sessions().token(str(session_id)) if session_id else None
    if not raw:  # never signed in, signed out (a replayed cookie), or the session ended
        session.pop("sid", None)
        flash(t("login_required"), "info")
        return redirect(url_for("web.login", next=_local(request.full_path)))
    try:
        g.web_actor, _expires = _verify(raw)
    except AuthenticationError as exc:
        _sessions().close(str(session_id))
        session.pop("sid", None)
        flash(t("session_ended", detail=str(exc)), "error")
        return redirect(url_for("web.login", next=_local(request.full_path)))
    g.web_token = raw
    return None


@web.after_request
def harden(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "web.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@web.app_template_global("t")
def _template_text(key: str, **values: Any) -> str:
    return t(key, **values)


@web.context_processor
def _page_globals() -> dict[str, Any]:
    current = g.get("web_actor")
    return {
        "lang": lang(),
        "csrf_token": csrf_token,
        "me": current,
        "action_label": lambda v: action_label(v, lang()),
        "mode_label": lambda v: label(MODES, v, lang()),
        "decision_label": lambda v: label(DECISIONS, v, lang()),
        "actor_type_label": lambda v: label(ACTOR_TYPES, v, lang()),
        "basis_label": lambda v: label(BASES, v, lang()),
        "lang_url": _lang_url,
        "local_time": lambda v: local_time(v, lang()),
    }


def _lang_url(code: str) -> str:
    args: dict[str, Any] = request.args.to_dict()
    args["lang"] = code
    return url_for(request.endpoint or "web.home", **(request.view_args or {}), **args)


def _local(target: str | None) -> str | None:
    """``target`` if it is a path of this site, as ASCII (non-ASCII characters and spaces
    percent-encoded), else None: no open redirect and nothing a header cannot hold. Refused:
    anything not starting with one ``/`` (``//evil``, ``https://evil``), a backslash anywhere
    (browsers read slash-backslash-evil as ``//evil``), and control or format characters
    (CR/LF would break the header; browsers drop tabs and newlines, so slash-tab-slash-evil
    is ``//evil``)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(unicodedata.category(c) in ("Cc", "Cf") for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return iri_to_uri(target.rstrip("?")) or None


@web.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = _local(request.values.get("next"))
    if request.method == "GET":
        return render_template("web/login.html", next=target)
    raw = "".join(request.form.get("token", "").split())
    try:
        who, expires = _verify(raw)
    except AuthenticationError as exc:
        message = t("login_failed", detail=str(exc))
        return render_template("web/login.html", next=target, error=message), 401
    language = session.get("lang", "fr")
    previous = session.get("sid")
    if previous:
        _sessions().close(str(previous))
    session.clear()  # a fresh session (and CSRF token) at sign-in: no fixation
    session_id = _sessions().open(raw, who.id, expires)
    session.update(sid=session_id, lang=language, csrf=secrets.token_urlsafe(32))
    return redirect(target or url_for("web.home"), code=303)


@web.route("/logout", methods=["POST"])
def logout() -> Any:
    language = session.get("lang", "fr")
    session_id = session.get("sid")
    if session_id:
        _sessions().close(str(session_id))  # the cookie, replayed, no longer signs anyone in
    session.clear()
    session["lang"] = language
    g.lang = language
    flash(t("logged_out"), "info")
    return redirect(url_for("web.login"), code=303)


@web.route("/")
def home() -> Any:
    who = actor()
    if who.type is ActorType.PATIENT:
        return redirect(url_for("web.dossier", pid=who.id))
    if who.type is ActorType.AUDITOR:
        return redirect(url_for("web.desk"))
    pid = request.args.get("patient_id", "").strip()
    if pid:
        return redirect(url_for("web.dossier", pid=pid))
    return render_template("web/home.html")
