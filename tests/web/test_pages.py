"""End-to-end: Debian's Chromium, driven by Playwright, against a live server with the demo
dossiers. Each test saves screenshots of the pages it visits (folder printed at the end)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from api.demo import CLAIRE, DURAND
from api.token import issue_token, load_private_key
from ledger.errors import ExportError
from ledger.export import verify_export
from tests.web.server import LiveServer

DOSSIER = f"/dossier/{CLAIRE}"
JUSTIFICATION = "Patiente inconsciente aux urgences, suspicion d'AVC"


def login(page: Any, live: LiveServer, who: str, path: str = "/") -> None:
    page.goto(live.url + path)
    page.fill("#token", live.tokens[who])
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()


def shoot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def fetch(url: str, data: bytes | None = None) -> tuple[int, dict[str, str]]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=data)) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_no_page_or_form_without_a_token(live: LiveServer) -> None:
    for path in ("/", DOSSIER, f"{DOSSIER}/export.json", "/audit", "/audit/verify/status"):
        status, headers = fetch(live.url + path)
        assert status == 302, path
        assert headers["Location"].startswith("/login?next="), path
    for path in (f"{DOSSIER}/settings", f"{DOSSIER}/lists/blocks", "/audit/verify", "/login"):
        status, _ = fetch(live.url + path, data=b"break_glass_allowed=on")
        assert status == 400, path


def test_login_rejects_bad_and_expired_tokens(
    page: Any, live: LiveServer, screenshots: Path
) -> None:
    page.goto(live.url + "/login")
    assert page.locator("html").get_attribute("lang") == "fr"
    page.fill("#token", "not-a-token")
    page.get_by_role("button", name="Se connecter").click()
    assert "Jeton refusé : malformed token" in page.inner_text("[role=alert]")
    shoot(page, screenshots, "01-login-refused")
    private = load_private_key((live.demo.folder / "idp-private.pem").read_bytes())
    settings = live.demo.settings
    expired = issue_token(
        private,
        {"sub": CLAIRE, "actor_type": "patient"},
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=-120,
    )
    page.fill("#token", expired)
    page.get_by_role("button", name="Se connecter").click()
    assert "token expired" in page.inner_text("[role=alert]")


def test_session_ends_when_its_token_expires(page: Any, live: LiveServer) -> None:
    """The token in the session is verified again on every request."""
    private = load_private_key((live.demo.folder / "idp-private.pem").read_bytes())
    settings = live.demo.settings
    expired = issue_token(
        private,
        {"sub": CLAIRE, "actor_type": "patient"},
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=-120,
    )
    app = live.demo.app
    cookie = app.session_interface.get_signing_serializer(app).dumps(  # type: ignore[attr-defined]
        {"token": expired, "csrf": "x"}
    )
    page.context.add_cookies([{"name": "vigie_session", "value": cookie, "url": live.url}])
    page.goto(live.url + DOSSIER)
    assert "/login" in page.url
    assert "token expired" in page.inner_text(".messages")


def test_patient_history_settings_and_language(
    page: Any, live: LiveServer, screenshots: Path
) -> None:
    login(page, live, "PATIENT")
    assert page.url.endswith(DOSSIER)
    cookie = next(c for c in page.context.cookies() if c["name"] == "vigie_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert page.get_by_role("heading", level=1).inner_text() == "Historique des accès"
    glass = page.locator("tr.mode-break_glass")
    assert glass.count() == 1
    assert "Bris de glace" in glass.inner_text()
    assert "Dr Chloé Durand" in glass.inner_text() and "Médecin" in glass.inner_text()
    assert JUSTIFICATION in glass.inner_text()
    assert "« Synthèse médicale » (Synthèse)" in glass.inner_text()  # the type's label, not an id
    assert "Centre 15" in page.locator("tr.mode-regulation").inner_text()
    assert "Refusé" in page.locator("tr", has_text="Dr Marc Lefèvre").first.inner_text()
    panel = page.locator("#acces")
    assert "Dr Paul Bernard" in panel.inner_text() and "médecin traitant" in panel.inner_text()
    shoot(page, screenshots, "02-patient-history")

    # Change a setting through the form: saved, traced, and shown at the top of the history.
    assert not page.is_checked("#emergency_sees_masked")
    page.check("#emergency_sees_masked")
    page.click("#save-settings")
    message = page.inner_text(".messages")
    assert re.search(r"Modification enregistrée et tracée \(entrée n° \d+\)", message)
    assert page.is_checked("#emergency_sees_masked")
    newest = page.locator("table.history tbody tr").first
    assert "Modification des paramètres d'urgence" in newest.inner_text()
    assert "Claire Martin (vous)" in newest.inner_text()
    assert "dont les documents masqués" in page.inner_text("#acces")

    # Block a professional from the lists, then lift it.
    page.fill("#add-blocks", "810009999999")
    page.locator("#h-blocks").locator("..").get_by_role("button", name="Ajouter").click()
    assert "810009999999" in page.locator("#h-blocks").locator("..").inner_text()
    page.get_by_role("button", name="Retirer 810009999999").click()
    assert "810009999999" not in page.locator("#h-blocks").locator("..").inner_text()
    shoot(page, screenshots, "03-patient-settings-changed")

    # Filters: professionals' actions in break-glass mode only.
    page.check("input[name=who][value=pro]")
    page.select_option("#mode", "break_glass")
    page.get_by_role("button", name="Filtrer").click()
    rows = page.locator("table.history tbody tr")
    assert rows.count() == 1 and "Bris de glace" in rows.inner_text()

    # English, remembered in the session.
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Access history"
    page.goto(live.url + DOSSIER)
    assert "Break glass" in page.locator("tr.mode-break_glass").inner_text()
    shoot(page, screenshots, "04-patient-history-en")


def _key(live: LiveServer) -> str:
    with urllib.request.urlopen(live.url + "/v1/ledger/key") as response:
        return str(response.read().decode().strip())


def test_export_downloaded_and_verified_in_the_page(
    page: Any, live: LiveServer, screenshots: Path, tmp_path: Path
) -> None:
    login(page, live, "PATIENT")
    with page.expect_download() as download:
        page.click("#download-json")
    saved = tmp_path / "bundle.json"
    download.value.save_as(saved)
    report = verify_export(json.loads(saved.read_text()), _key(live))
    with page.expect_download() as download:
        page.click("#download-fhir")
    download.value.save_as(tmp_path / "fhir.json")
    assert json.loads((tmp_path / "fhir.json").read_text())["resourceType"] == "Bundle"

    page.click("#verify-button")
    headline = page.locator("#verify-result.verified #verify-headline")
    text = headline.inner_text()
    assert re.fullmatch(
        r"Vérifié : \d+ entrées, complet jusqu'au \d\d/\d\d/\d{4} \d\d:\d\d:\d\d\.", text
    )
    assert int(text.split()[2]) >= report.entries + 1  # one more export since the download
    assert "Cohérent avec le dernier point de contrôle publié" in page.inner_text("#verify-result")
    page.locator("#export").scroll_into_view_if_needed()
    shoot(page, screenshots, "05-export-verified")


def test_tampered_export_is_named(page: Any, live: LiveServer, screenshots: Path) -> None:
    """The bundle served to the page has the break-glass decision flipped: the page names
    the same failures as the Python verifier."""
    tampered: dict[str, Any] = {}

    def flip(route: Any) -> None:
        response = route.fetch()
        bundle = response.json()
        for item in bundle["entries"]:
            if item["header"]["mode"] == "break_glass":
                item["header"]["decision"] = "deny"
        tampered["bundle"] = bundle
        route.fulfill(response=response, body=json.dumps(bundle))

    login(page, live, "PATIENT")
    page.route(re.compile(r".*/dossier/[^/]+/export\.json$"), flip)
    page.click("#verify-button")
    result = page.locator("#verify-result.failed")
    assert "Vérification ÉCHOUÉE" in result.locator("#verify-headline").inner_text()
    shown = result.locator(".failures li").all_inner_texts()
    with pytest.raises(ExportError) as caught:
        verify_export(tampered["bundle"], _key(live))
    expected = [str(f) for f in caught.value.failures]
    assert [line.split(": ")[:2] for line in shown] == [line.split(": ")[:2] for line in expected]
    assert any("inclusion proof" in line for line in shown)
    assert any("patient chain" in line for line in shown)
    page.locator("#export").scroll_into_view_if_needed()
    shoot(page, screenshots, "06-export-tampered")


def test_auditor_desk_queue_search_and_verification(
    page: Any, live: LiveServer, screenshots: Path
) -> None:
    login(page, live, "AUDITOR")
    assert page.url.endswith("/audit")
    queue = page.locator("#bris-de-glace table tbody tr")
    glass = queue.filter(has_text="Dr Chloé Durand")
    assert glass.count() == 1
    assert "Bris de glace" in glass.inner_text() and JUSTIFICATION in glass.inner_text()
    assert "« Synthèse médicale » (Synthèse)" in glass.inner_text()  # the type's label
    assert "Centre 15" in queue.filter(has_text="Dr Karim Haddad").inner_text()
    shoot(page, screenshots, "07-desk")

    # The entry behind the queue line, with its payload (patient id), read through the API.
    glass.get_by_role("link").click()
    assert CLAIRE in page.inner_text("#h-payload + pre")
    shoot(page, screenshots, "08-desk-entry")
    page.go_back()

    # Search across dossiers: this professional's accesses.
    page.fill("#actor_id", DURAND)
    page.get_by_role("button", name="Rechercher").click()
    results = page.locator("#recherche table tbody tr")
    assert results.count() >= 1
    assert all("Dr Chloé Durand" in row for row in results.all_inner_texts())

    # Whole-ledger verification with its progress bar.
    page.click("#verify-ledger")
    page.locator("#check-message.verified").wait_for()
    assert re.match(r"Registre vérifié : \d+ entrées", page.inner_text("#check-message"))
    assert page.eval_on_selector("#check-progress", "p => p.value === p.max && p.max > 1")
    page.locator("#registre").scroll_into_view_if_needed()
    shoot(page, screenshots, "09-desk-verified")


def test_csrf_required_and_patient_kept_out_of_the_desk(page: Any, live: LiveServer) -> None:
    login(page, live, "PATIENT")
    answer = page.request.post(
        live.url + f"{DOSSIER}/settings", form={"break_glass_allowed": "on"}, max_redirects=0
    )
    assert answer.status == 400
    answer = page.request.post(
        live.url + f"{DOSSIER}/settings", form={"csrf_token": "forged"}, max_redirects=0
    )
    assert answer.status == 400
    page.goto(live.url + "/audit")
    assert "actor.not_allowed" in page.inner_text("#bris-de-glace")
    assert page.request.get(live.url + "/audit/verify/status").status == 403
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        live.url + "/audit/verify",
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert answer.status == 403
