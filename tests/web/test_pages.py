"""End-to-end: Debian's Chromium, driven by Playwright, against a live server with the demo
dossiers. Each test saves screenshots of the pages it visits (folder printed at the end)."""

from __future__ import annotations

import itertools
import json
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.demo import CLAIRE, DURAND
from api.token import issue_token, load_private_key
from ledger.errors import ExportError
from ledger.export import verify_export
from tests.web.a11y import check_page, violations
from tests.web.server import LiveServer

DOSSIER = f"/dossier/{CLAIRE}"
JUSTIFICATION = "Patiente inconsciente aux urgences, suspicion d'AVC"


def login(page: Any, live: LiveServer, who: str, path: str = "/") -> None:
    page.goto(live.url + path)
    page.fill("#token", live.tokens[who])
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()


def shoot(page: Any, folder: Path, name: str) -> None:
    """Screenshots at a phone's and a laptop's width, after the accessibility checks."""
    check_page(page, folder, name)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def expired_token(live: LiveServer) -> str:
    """Claire's token, signed by the demo IdP, expired two minutes ago."""
    private = load_private_key((live.demo.folder / "idp-private.pem").read_bytes())
    settings = live.demo.settings
    return issue_token(
        private,
        {"sub": CLAIRE, "actor_type": "patient"},
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=-120,
    )


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
    expired = expired_token(live)
    page.fill("#token", expired)
    page.get_by_role("button", name="Se connecter").click()
    assert "token expired" in page.inner_text("[role=alert]")


def test_session_ends_when_its_token_expires(page: Any, live: LiveServer) -> None:
    """The token in the session is verified again on every request."""
    expired = expired_token(live)
    app = live.demo.app
    sessions = app.extensions["vigie.web.sessions"]  # a session opened before it expired
    session_id = sessions.open(expired, CLAIRE, datetime.now(UTC) + timedelta(hours=1))
    cookie = app.session_interface.get_signing_serializer(app).dumps(  # type: ignore[attr-defined]
        {"sid": session_id, "csrf": "x"}
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
    glass = page.locator("tr.mode-break_glass", has_text="Dr Chloé Durand")
    assert glass.count() == 1
    text = glass.inner_text()
    assert "Bris de glace" in text and JUSTIFICATION in text and "Autorisé" in text
    assert "Dr Chloé Durand (Médecin) a consulté « " in text
    assert "« Synthèse médicale »" in text  # the type's label, not an id
    assert "Centre 15" in page.locator("tr.mode-regulation").inner_text()
    refused = page.locator("tr", has_text="Dr Marc Lefèvre").first.inner_text()
    assert "Refusé : vous avez bloqué ce professionnel" in refused
    history = page.inner_text("table.history")
    for raw in ("patient.owner", "dossier.not_found", "actor.not_allowed", "DOC-CLAIRE"):
        assert raw not in history
    panel = page.locator("#acces")
    assert "Dr Paul Bernard (Médecin)" in panel.inner_text()
    assert "médecin traitant" in panel.inner_text()
    assert "matrice" not in panel.inner_text()
    notice = page.locator("#urgences")
    assert "Dr Chloé Durand" in notice.inner_text() and JUSTIFICATION in notice.inner_text()
    tabs = page.locator("nav.tabs").inner_text()
    assert re.search(r"Toutes les actions \(\d+\).*Vos actions \(\d+\)", tabs, re.S)
    shoot(page, screenshots, "02-patient-history")

    # Change a setting through the form: saved, traced, focused, and shown in the history.
    assert not page.is_checked("#emergency_sees_masked")
    page.check("#emergency_sees_masked")
    page.click("#save-settings")
    message = page.inner_text(".messages")
    assert re.search(r"Modification enregistrée et tracée \(entrée n° \d+\)", message)
    assert page.evaluate("() => document.activeElement.id") == "messages"
    assert page.is_checked("#emergency_sees_masked")
    newest = page.locator("table.history tbody tr").first
    assert "Vous avez modifié vos paramètres d'accès en urgence" in newest.inner_text()
    assert "dont les documents masqués" in page.inner_text("#acces")

    # Block a professional from the lists, then lift it, after a confirmation step.
    page.fill("#add-blocks", "810009999999")
    page.locator("#h-blocks").locator("..").get_by_role("button", name="Ajouter").click()
    blocks = page.locator("#h-blocks").locator("..")
    assert "810009999999 (pas encore connecté)" in blocks.inner_text()
    page.get_by_role(
        "button", name="Retirer 810009999999 (pas encore connecté) de la liste"
    ).click()
    assert "Retirer 810009999999 (pas encore connecté)" in page.inner_text("#confirm-question")
    shoot(page, screenshots, "03-patient-confirm-removal")
    page.get_by_role("link", name="Non, revenir sans rien changer").click()
    assert "810009999999" in page.locator("#h-blocks").locator("..").inner_text()
    page.get_by_role("button", name=re.compile("Retirer 810009999999")).click()
    page.click("#confirm-remove")
    assert "810009999999" not in page.locator("#h-blocks").locator("..").inner_text()
    treating = page.get_by_role(
        "button", name="Retirer Dr Paul Bernard (Médecin) comme médecin traitant"
    )
    assert treating.count() == 1
    shoot(page, screenshots, "04-patient-settings-changed")

    # Tabs and filters: professionals' actions in break-glass mode only.
    page.get_by_role("link", name=re.compile(r"Actions des professionnels \(\d+\)")).click()
    page.select_option("#mode", "break_glass")
    page.get_by_role("button", name="Filtrer").click()
    rows = page.locator("table.history tbody tr")
    assert rows.count() == 2 and all("Bris de glace" in r for r in rows.all_inner_texts())

    # English, remembered in the session.
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Access history"
    page.goto(live.url + DOSSIER)
    english = page.locator("tr.mode-break_glass", has_text="Dr Chloé Durand").inner_text()
    assert "Break glass" in english and "Dr Chloé Durand (Médecin) read “" in english
    shoot(page, screenshots, "05-patient-history-en")
    page.get_by_role("link", name="Français").click()


def test_ten_visits_keep_the_professionals_on_page_one(
    page: Any, live: LiveServer, screenshots: Path
) -> None:
    """Each page view adds one entry; own consultations fold into one line, so the
    professionals' accesses and the emergency notice stay on page 1."""
    login(page, live, "PATIENT")
    own = []
    for _ in range(10):
        page.goto(live.url + DOSSIER)
        tab = page.get_by_role("link", name=re.compile(r"Vos actions \(\d+\)")).inner_text()
        own.append(int(re.search(r"\((\d+)\)", tab).group(1)))  # type: ignore[union-attr]
    assert [b - a for a, b in itertools.pairwise(own)] == [1] * 9
    folded = page.locator("table.history tbody tr").first.inner_text()
    assert re.search(r"Vous avez consulté votre dossier · \d+ fois", folded)
    assert page.locator("tr.mode-break_glass", has_text="Dr Chloé Durand").count() == 1
    assert "Dr Chloé Durand" in page.inner_text("#urgences")
    shoot(page, screenshots, "06-patient-after-ten-visits")


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
    shoot(page, screenshots, "07-export-verified")


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
    shoot(page, screenshots, "08-export-tampered")


def test_auditor_desk_queue_search_and_verification(
    page: Any, live: LiveServer, screenshots: Path
) -> None:
    login(page, live, "AUDITOR")
    assert page.url.endswith("/audit")
    groups = page.locator("#bris-de-glace li.group")
    first, second = groups.nth(0).inner_text(), groups.nth(1).inner_text()
    assert "Dr Marc Lefèvre" in first and "tentative alors que le patient l'a bloqué" in first
    assert "Dr Emma Roux" in second and "« . »" in second
    assert "justification trop faible" in second and "dossier d'un mineur" in second
    regulator = groups.filter(has_text="Dr Karim Haddad").inner_text()
    assert "Centre 15" in regulator and "aucune relation de soins" not in regulator
    glass = page.locator("#bris-de-glace tbody tr", has_text=JUSTIFICATION)
    assert glass.count() == 1 and "Bris de glace" in glass.inner_text()
    assert CLAIRE in glass.inner_text()
    assert "« Synthèse médicale » (Synthèse)" in glass.inner_text()  # the type's label
    shoot(page, screenshots, "09-desk")

    # Mark the break glass reviewed: it leaves "to review" and shows under "reviewed".
    glass.get_by_text("Marquer comme revu").click()
    glass.get_by_role("textbox").fill("Appel du service des urgences : justifié")
    glass.get_by_role("button", name="Enregistrer la revue").click()
    assert "marqué revu" in page.inner_text(".messages")
    assert page.locator("#bris-de-glace tbody tr", has_text=JUSTIFICATION).count() == 0
    page.get_by_role("link", name="Revus").click()
    done = page.locator("#bris-de-glace tbody tr", has_text=JUSTIFICATION)
    assert "Appel du service des urgences : justifié" in done.inner_text()
    page.get_by_role("link", name="À revoir").click()
    shoot(page, screenshots, "09b-desk-after-review")
    page.get_by_role("link", name="Tous").click()
    glass = page.locator("#bris-de-glace tbody tr", has_text=JUSTIFICATION)

    # The entry behind the queue line, with its payload (patient id), read through the API.
    glass.get_by_role("link", name=re.compile(r"^entrée \d+$")).click()
    assert CLAIRE in page.inner_text("#h-payload + pre")
    shoot(page, screenshots, "10-desk-entry")
    page.go_back()

    # Search across dossiers: this professional's accesses.
    page.fill("#actor_id", DURAND)
    page.get_by_role("button", name="Rechercher").click()
    results = page.locator("#recherche table tbody tr")
    assert results.count() >= 1
    assert all("Dr Chloé Durand" in row for row in results.all_inner_texts())
    assert CLAIRE in results.first.inner_text()
    results.first.get_by_role("link", name="Toutes les entrées de ce patient").click()
    assert page.input_value("#patient_id") == CLAIRE

    # Whole-ledger verification with its progress bar.
    page.click("#verify-ledger")
    page.locator("#check-message.verified").wait_for()
    assert re.match(r"Registre vérifié : \d+ entrées", page.inner_text("#check-message"))
    assert page.eval_on_selector("#check-progress", "p => p.value === p.max && p.max > 1")
    page.locator("#registre").scroll_into_view_if_needed()
    shoot(page, screenshots, "11-desk-verified")


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
    assert "action non permise pour ce type d'utilisateur" in page.inner_text("#bris-de-glace")
    assert page.request.get(live.url + "/audit/verify/status").status == 403
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        live.url + "/audit/verify",
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert answer.status == 403


def test_the_accessibility_check_can_fail(page: Any, screenshots: Path) -> None:
    page.set_content("<html><body><button></button><img src='data:,'></body></html>")
    assert {v["id"] for v in violations(page)} >= {"button-name", "image-alt"}
    page.set_content("<html><body><div style='width: 2000px'>wide</div></body></html>")
    with pytest.raises(AssertionError, match="horizontal scroll"):
        check_page(page, screenshots, "99-check-can-fail")


def test_professional_home_and_refused_page(page: Any, live: LiveServer, screenshots: Path) -> None:
    """A professional opens a record from the home page; the patient page is the holder's:
    the refusal is a plain message, and both pages pass the same checks."""
    login(page, live, "NURSE")
    assert page.get_by_role("heading", level=1).inner_text() == "Accueil"
    shoot(page, screenshots, "12-professional-home")
    page.fill("#patient_id", CLAIRE)
    page.get_by_role("button", name="Ouvrir").click()
    assert "Accès refusé" in page.inner_text("[role=alert]")
    shoot(page, screenshots, "13-professional-refused")


def test_a_document_hidden_from_the_reader_reads_as_not_visible(
    page: Any, live: LiveServer, screenshots: Path
) -> None:
    """Sophie, Lucas's mother, reads his history: the consultation report kept for Lucas
    alone is not named anywhere; its deposit reads as an action on a document not visible
    to her. Claire's page does the same for the result still hidden from her."""
    from api.demo import LUCAS
    from engine.tables import Tables
    from policy import load

    title = Tables.parse(load().texts).document_title("11488-4")
    login(page, live, "REPRESENTATIVE")
    page.goto(live.url + f"/dossier/{LUCAS}")
    history = page.inner_text("table.history")
    assert "Quelqu'un a ajouté un document non visible pour vous" in history
    assert "DOC-LUCAS-CONSULT-SECRET" not in page.content()
    assert title not in page.inner_text("main")
    assert "Documents encore invisibles pour vous : 1." in page.inner_text("#acces")
    # the representative reads her son's dossier, not her own
    assert page.inner_text("#h-history") == "Accès et actions sur ce dossier"
    assert page.inner_text("#h-notice").startswith("Accès en urgence à ce dossier")
    shoot(page, screenshots, "14-representative-withheld")
    page.get_by_role("button", name=re.compile("Se déconnecter|Déconnexion")).click()
    login(page, live, "PATIENT")
    assert "Quelqu'un a ajouté un document non visible pour vous" in page.inner_text(
        "table.history"
    )
    assert page.inner_text("#h-history") == "Accès et actions sur votre dossier"
    assert "DOC-CLAIRE-BIO" not in page.content()


def _ledger_size(live: LiveServer) -> int:
    with live.demo.app.extensions["vigie"].database.read_only() as uow:
        return int(uow.ledger.head().size)


def test_a_malformed_professional_id_is_named_next_to_its_field(
    page: Any, live: LiveServer, screenshots: Path
) -> None:
    """The lists and the treating-doctor forms check the id as the API does (POLICY.md §1):
    a wrong one is said in French beside the field (aria-invalid, aria-describedby) and in
    the messages as a link to it; nothing is sent to the API, recorded or changed."""
    login(page, live, "PATIENT")
    blocks = page.locator("#h-blocks").locator("..")
    listed = blocks.locator("ul.members").inner_text()
    for field, bad, button in [
        ("#add-blocks", "8100 3456789", blocks.get_by_role("button", name="Ajouter")),
        ("#add-authorizations", "81000345678", None),
        (
            "#treating-id",
            "".join(chr(0xFF10 + int(c)) for c in "810003456789"),
            page.get_by_role("button", name="Désigner"),
        ),
    ]:
        before = _ledger_size(live)
        page.fill(field, bad)
        if button is None:
            page.locator(field).press("Enter")
        else:
            button.click()
        page.wait_for_load_state()
        assert _ledger_size(live) == before + 1  # the page shown again, not the change
        box = page.locator(field)
        assert box.get_attribute("aria-invalid") == "true"
        error = page.locator(f"{field}-error")
        assert f"{field[1:]}-error" in (box.get_attribute("aria-describedby") or "").split()
        assert "n'est pas un identifiant de professionnel" in error.inner_text()
        assert bad in error.inner_text()
        link = page.locator(".messages a", has_text="n'est pas un identifiant")
        assert link.get_attribute("href") == field
        assert blocks.locator("ul.members").inner_text() == listed
    shoot(page, screenshots, "15-patient-bad-professional-id")
    page.reload()
    assert page.locator("#treating-id").get_attribute("aria-invalid") is None
    assert page.locator(".field-error").count() == 0
