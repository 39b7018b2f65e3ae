"""Page sessions through the app's own client, on both backends (issue 13, findings 4 and 8):
the cookie names a server-side session and never carries the token; signing out ends the
session for every copy of the cookie; a session ends no later than its token; after sign-in
only a same-site path is followed, whatever ``next`` holds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, request
from sqlalchemy import text

from api.app import create_app
from api.token import issue_token
from api.web.session import MAX_SESSION
from models.database import Database
from tests.api import conftest as api_conftest
from tests.api.conftest import AUDIENCE, CAST, ISSUER, Api, KeyFiles, settings_for, setup_dossier

key_files = api_conftest.key_files  # the session fixture of tests/api, shared

HTTPS = "https://localhost"


@pytest.fixture
def web(db_url: str, database: Database, key_files: KeyFiles) -> Api:
    """The app (API and pages) on each backend in turn, with a client speaking as CAST."""
    settings = settings_for(db_url, key_files)
    built = create_app(settings, database=database, configure_logs=False)
    return Api(built.test_client(), key_files)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def cookie(client: Any) -> str | None:
    found = client.get_cookie("vigie_session", domain="localhost")
    return None if found is None else str(found.value)


def csrf(client: Any, path: str = "/login") -> str:
    page = client.get(path, base_url=HTTPS)
    found = CSRF.search(page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:500]
    return found.group(1)


def sign_in(client: Any, token: str, next_path: str | None = None) -> Any:
    form = {"csrf_token": csrf(client), "token": token}
    if next_path is not None:
        form["next"] = next_path
    return client.post("/login", data=form, base_url=HTTPS)


def token_of(keys: KeyFiles, who: str, ttl: int = 3600) -> str:
    return issue_token(
        keys.idp_private, CAST[who], issuer=ISSUER, audience=AUDIENCE, ttl_seconds=ttl
    )


def rows(app: Flask) -> list[tuple[Any, ...]]:
    with app.extensions["vigie"].database.read_only() as uow:
        found = uow.session.execute(
            text("SELECT id_hash, actor_id, sealed_token, expires_at FROM web_sessions")
        )
        return [tuple(r) for r in found]


def signed_in(client: Any) -> bool:
    response = client.get("/dossier/P1", base_url=HTTPS)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def signed_in_holder(web: Api) -> tuple[Api, Any, Any]:
    """The demo dossier P1 set up, and a page client signed in as its holder: (api, app,
    client)."""
    api, app = web, web.client.application
    setup_dossier(api)
    client = app.test_client()
    sign_in(client, token_of(api.keys, "holder"))
    return api, app, client


def test_the_cookie_names_a_session_and_never_carries_the_token(web: Api) -> None:
    api, app = web, web.client.application
    setup_dossier(api)
    client = app.test_client()
    token = token_of(api.keys, "holder")
    response = sign_in(client, token)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    value = cookie(client)
    assert value is not None and signed_in(client)
    payload = app.session_interface.get_signing_serializer(app).loads(value)  # type: ignore[attr-defined]
    assert set(payload) <= {"sid", "csrf", "lang", "_flashes"}, payload
    assert token not in value and token not in str(payload)
    assert token.split(".")[1] not in value  # not even the claims
    assert len(payload["sid"]) >= 43  # 32 random bytes, base64url
    (stored,) = rows(app)
    assert stored[1] == "P1"
    assert token.encode() not in bytes(stored[2]) and payload["sid"] not in stored[0]


def test_a_cookie_replayed_after_logout_is_signed_out(web: Api) -> None:
    _, app, client = signed_in_holder(web)
    kept = cookie(client)
    assert kept is not None and signed_in(client)
    page_token = csrf(client, "/dossier/P1")
    response = client.post("/logout", data={"csrf_token": page_token}, base_url=HTTPS)
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
    assert rows(app) == []
    replay = app.test_client()
    replay.set_cookie("vigie_session", kept, domain="localhost")
    response = replay.get("/dossier/P1", base_url=HTTPS)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert not signed_in(replay)


def test_signing_in_again_ends_the_previous_session(web: Api) -> None:
    api, app, client = signed_in_holder(web)
    first = cookie(client)
    sign_in(client, token_of(api.keys, "holder"))
    assert len(rows(app)) == 1
    replay = app.test_client()
    replay.set_cookie("vigie_session", str(first), domain="localhost")
    assert not signed_in(replay)


def test_a_session_ends_no_later_than_its_token(web: Api) -> None:
    api, app = web, web.client.application
    setup_dossier(api)
    client = app.test_client()
    before = datetime.now(UTC)
    sign_in(client, token_of(api.keys, "holder", ttl=120))
    ((_, _, _, expires),) = rows(app)
    ends = expires if isinstance(expires, datetime) else datetime.fromisoformat(expires)
    ends = ends.replace(tzinfo=UTC) if ends.tzinfo is None else ends
    assert ends <= before + timedelta(seconds=121)
    other = app.test_client()
    sign_in(other, token_of(api.keys, "holder", ttl=7 * 24 * 3600))
    longest = max(
        (e if isinstance(e, datetime) else datetime.fromisoformat(e)).replace(tzinfo=UTC)
        for _, _, _, e in rows(app)
    )
    assert longest <= datetime.now(UTC) + MAX_SESSION
    sessions = app.extensions["vigie.web.sessions"]
    ended = sessions.open(token_of(api.keys, "holder"), "P1", datetime.now(UTC) - timedelta(1))
    assert sessions.token(ended) is None


def test_a_row_moved_to_another_session_does_not_unseal(web: Api) -> None:
    app = web.client.application
    sessions = app.extensions["vigie.web.sessions"]
    soon = datetime.now(UTC) + timedelta(hours=1)
    first = sessions.open("token-one", "P1", soon)
    second = sessions.open("token-two", "P2", soon)
    assert sessions.token(first) == "token-one" and sessions.token(second) == "token-two"
    with app.extensions["vigie"].database.unlocked_write() as uow:
        sealed = {
            r[0]: r[1]
            for r in uow.session.execute(text("SELECT id_hash, sealed_token FROM web_sessions"))
        }
        a, b = sorted(sealed)
        uow.session.execute(
            text("UPDATE web_sessions SET sealed_token = :s WHERE id_hash = :h"),
            {"s": sealed[b], "h": a},
        )
    assert None in (sessions.token(first), sessions.token(second))


# -- finding 8: where sign-in leads -------------------------------------------------------------

HOSTILE_NEXT = [
    "/dossier/P1\r\nSet-Cookie: evil=1",
    "/x\nLocation: https://evil.example",
    "/x\r",
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "http:/evil.example",
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/%0d%0a\u2028x\u202e",
    " /x",
    "javascript:alert(1)",
    "evil.example",
    "/\u200b/evil.example",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_a_bad_next_is_ignored_and_sign_in_leads_home(web: Api, target: str) -> None:
    api, app = web, web.client.application
    client = app.test_client()
    response = sign_in(client, token_of(api.keys, "holder"), target)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    assert response.headers["Location"] == "/"
    page = client.get("/login", query_string={"next": target}, base_url=HTTPS)
    assert page.status_code in (200, 302)


def test_a_same_site_next_is_followed(web: Api) -> None:
    api, app = web, web.client.application
    setup_dossier(api)
    client = app.test_client()
    response = sign_in(client, token_of(api.keys, "holder"), "/dossier/P1?tab=mine")
    assert response.headers["Location"] == "/dossier/P1?tab=mine"
    other = app.test_client()
    response = sign_in(other, token_of(api.keys, "holder"), "/dossier/P 1é")
    assert response.headers["Location"] == "/dossier/P%201%C3%A9"
    unsigned = app.test_client().get("/dossier/P1?x=1", base_url=HTTPS)
    assert unsigned.status_code == 302
    assert unsigned.headers["Location"] == "/login?next=/dossier/P1?x%3D1"


def test_only_the_pages_open_the_cookie_session(web: Api) -> None:
    """The JSON API gets Flask's null session (no signing serializer per request); a page
    path gets the signed cookie session, which a page can write."""
    app = web.client.application
    for path, null in (("/v1/decisions", True), ("/v1/dossiers/P1", True), ("/audit", False)):
        with app.test_request_context(path, method="POST", base_url=HTTPS):
            session = app.session_interface.open_session(app, request)
            assert session is not None
            assert app.session_interface.is_null_session(session) is null, path
