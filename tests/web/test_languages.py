"""Every page in English and German (Accept-Language or the switch); the API stays English."""

from __future__ import annotations

import re

import pytest

from permit_service.services import permits as service
from tests.web.conftest import ADMIN, VIEWER, add_user, apply_web, let_deadline_pass, login, text

GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
HEADERS = {"en": ENGLISH, "de": GERMAN}


def html_lang(response) -> str:
    match = re.search(r'<html lang="([a-z]+)">', response.get_data(as_text=True))
    assert match
    return match.group(1)


@pytest.fixture
def both(app):
    """Staff accounts; clients asking for each language, signed in as the admin."""
    add_user(app, ADMIN, "admin")
    add_user(app, VIEWER, "viewer")
    return app


def _client(app, language: str, who=ADMIN):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = HEADERS[language]["Accept-Language"]
    if who is not None:
        assert login(client, who).status_code == 303
    return client


# (path builder, {language: words that page must show}); ids come from `apply_web` per test.
@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "en",
            [
                "Apply for a residential parking permit",
                "Who can apply",
                "A permit officer decides within 5 minutes",
                "Your data",
                "Full name",
                "English",
                "Deutsch",
            ],
        ),
        (
            "de",
            [
                "Bewohnerparkausweis beantragen",
                "Wer einen Antrag stellen kann",
                "entscheidet innerhalb von 5 Minuten",
                "Ihre Daten",
                "Vollständiger Name",
                "Kennzeichen",
                "Zeiten in der Zeitzone UTC",
            ],
        ),
    ],
)
def test_start_page_in_each_language(client, language, words):
    response = client.get("/", headers=HEADERS[language])
    assert response.status_code == 200
    assert html_lang(response) == language
    page = text(response)
    for word in words:
        assert word in page, word


def test_start_page_form_errors_in_german(client):
    response = client.post(
        "/",
        data={"name": "", "license_plate": "AB!", "address": "  ", "email": "x"},
        headers=GERMAN,
    )
    assert response.status_code == 422
    page = text(response)
    assert "Es gibt ein Problem" in page
    assert "Geben Sie Ihren vollständigen Namen ein." in page
    assert "Dieses Kennzeichen ist ungültig." in page  # the domain's rule, translated
    assert "Geben Sie die Adresse ein." in page  # whitespace only: the domain's message
    assert "Diese E-Mail-Adresse ist ungültig." in page
    assert "There is a problem" not in page and "licence plate" not in page


def test_duplicate_plate_in_german(client):
    apply_web(client, license_plate="ABC-123")
    response = client.post(
        "/", data={"name": "B", "license_plate": "abc 123", "address": "9 Oak St"}, headers=GERMAN
    )
    assert response.status_code == 409
    assert "Für das Kennzeichen ABC 123 gibt es bereits einen offenen" in text(response)


@pytest.mark.parametrize(
    ("state", "en", "de"),
    [
        ("pending", "Status: Waiting for a decision", "Status: Wartet auf Entscheidung"),
        ("approved", "Status: Approved", "Status: Genehmigt"),
        ("refused", "Status: Refused", "Status: Abgelehnt"),
        ("revoked", "Status: Revoked", "Status: Widerrufen"),
        ("expired", "Status: Expired", "Status: Abgelaufen"),
    ],
)
def test_receipt_in_each_language_and_state(app, client, state, en, de):
    permit_id = apply_web(client)
    with app.app_context():
        if state in {"approved", "revoked"}:
            service.approve_permit(permit_id, actor=ADMIN[0])
        if state in {"refused", "revoked"}:
            service.revoke_permit(permit_id, actor=ADMIN[0], reason="Grund / reason")
    if state == "expired":
        let_deadline_pass(app)
    english = text(client.get(f"/applications/{permit_id}", headers=ENGLISH))
    german = text(client.get(f"/applications/{permit_id}", headers=GERMAN))
    assert en in english and "What happens next" in english
    assert de in german and "Wie es weitergeht" in german and "Ihr Aktenzeichen" in german
    assert "What happens next" not in german


def test_receipt_deadline_in_german_words(client):
    permit_id = apply_web(client)
    page = text(client.get(f"/applications/{permit_id}", headers=GERMAN))
    assert re.search(r"Die Parkausweisstelle entscheidet bis \d\d:\d\d UTC \(in 5 Minuten\)", page)


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Staff sign-in", "E-mail address", "Password", "Sign in"]),
        ("de", ["Anmeldung für Mitarbeitende", "E-Mail-Adresse", "Passwort", "Anmelden"]),
    ],
)
def test_login_page_in_each_language(both, language, words):
    client = _client(both, language, who=None)
    page = text(client.get("/admin/login"))
    for word in words:
        assert word in page, word
    failed = client.post("/admin/login", data={"email": ADMIN[0], "password": "wrong"})
    assert failed.status_code == 401
    expected = "do not match an active account" if language == "en" else "passen zu keinem"
    assert expected in text(failed)


def test_signed_out_redirect_message_in_german(both):
    client = _client(both, "de", who=None)
    response = client.get("/admin/permits", follow_redirects=True)
    assert "Bitte melden Sie sich an, um diese Seite zu sehen." in text(response)


def test_queue_and_permit_pages_in_german(both):
    client = _client(both, "de")
    assert "Angemeldet als admin@example.test." in text(client.get("/admin/permits"))
    refused = apply_web(client, license_plate="RF-1", name="Rita Ref")
    apply_web(client, license_plate="PD-2", name="Paul Pend")
    client.post(f"/admin/permits/{refused}/revoke", data={"reason": "Nicht in der Zone"})
    queue = text(client.get("/admin/permits?status=all"))
    for word in (
        "Antragsliste",
        "Wartet auf Entscheidung 1",
        "Abgelehnt oder widerrufen 1",
        "1–2 von 2 Ausweisen.",
        "Neueste zuerst.",
        "Genehmigen PD-2",
        "Ablehnen PD-2",
        "Abgelehnt",  # the refused row's badge
    ):
        assert word in queue, word
    detail = text(client.get(f"/admin/permits/{refused}"))
    for word in (
        "Ausweis RF-1",
        "Verlauf",
        "Beantragt: Wartet auf Entscheidung die antragstellende Person",
        "Wartet auf Entscheidung → Abgelehnt admin@example.test Nicht in der Zone",
        "Dieser Antrag wurde abgelehnt",
    ):
        assert word in detail, word
    beyond = text(client.get("/admin/permits?status=all&page=9"))
    assert "Es gibt keine Seite 9: Diese Liste hat nur 1 Seite. Zur letzten Seite" in beyond


def test_decision_messages_in_german(both):
    client = _client(both, "de")
    pending = apply_web(client, license_plate="DE-1", name="Dora")
    response = client.post(f"/admin/permits/{pending}/approve")
    assert "DE-1 (Dora) wurde genehmigt." in text(client.get(response.headers["Location"]))
    response = client.post(f"/admin/permits/{pending}/revoke")
    page = text(client.get(response.headers["Location"]))
    assert "Der Ausweis DE-1 (Dora) wurde widerrufen." in page
    assert "Genehmigt → Widerrufen" in page


def test_viewer_refusal_page_in_german(both):
    client = _client(both, "de", who=VIEWER)
    permit_id = apply_web(client)
    response = client.post(f"/admin/permits/{permit_id}/approve")
    assert response.status_code == 403
    assert "Dazu sind Sie nicht berechtigt" in text(response)


@pytest.mark.parametrize(
    ("path", "method", "code", "en", "de"),
    [
        ("/nowhere", "get", 404, "We could not find that page", "Diese Seite gibt es nicht"),
        ("/admin/logout", "get", 405, "That cannot be done here", "Das ist hier nicht möglich"),
    ],
)
def test_error_pages_in_each_language(client, path, method, code, en, de):
    english = getattr(client, method)(path, headers=ENGLISH)
    german = getattr(client, method)(path, headers=GERMAN)
    assert english.status_code == german.status_code == code
    assert en in text(english)
    assert de in text(german) and html_lang(german) == "de"


def test_stale_form_page_in_german(app_factory):
    client = app_factory(WTF_CSRF_ENABLED=True).test_client()
    response = client.post("/", data={"name": "x"}, headers=GERMAN)
    assert response.status_code == 400
    page = text(response)
    assert "Ihr Formular wurde nicht gesendet" in page
    assert "senden Sie das Formular noch einmal ab" in page


def test_server_error_page_in_german(app):
    def broken() -> str:
        raise RuntimeError("internals")

    app.add_url_rule("/broken-for-test", view_func=broken)
    response = app.test_client().get("/broken-for-test", headers=GERMAN)
    assert response.status_code == 500
    assert "Bei uns ist etwas schiefgegangen" in text(response)


def test_too_many_attempts_page_in_german(app_factory):
    client = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="1 per minute").test_client()
    for _ in range(2):
        response = client.post(
            "/admin/login", data={"email": "a@b.c", "password": "x"}, headers=GERMAN
        )
    assert response.status_code == 429
    assert "Zu viele Versuche" in text(response)


# --- the switch ---------------------------------------------------------------------------------


def test_switch_sets_a_cookie_that_overrides_the_browser(client):
    response = client.get("/language?lang=de&next=/admin/login", headers=ENGLISH)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/login"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=de;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/admin/login", headers=ENGLISH)
    assert html_lang(page) == "de" and "Anmeldung für Mitarbeitende" in text(page)
    client.get("/language?lang=en&next=/", headers=GERMAN)
    assert html_lang(client.get("/", headers=GERMAN)) == "en"


def test_switch_is_on_every_page_and_returns_to_it(client):
    permit_id = apply_web(client)
    for path in ("/", f"/applications/{permit_id}", "/admin/login", "/nowhere"):
        html = client.get(path, headers=ENGLISH).get_data(as_text=True)
        assert 'aria-label="Language"' in html, path
        assert f'href="/language?lang=de&amp;next={path}" lang="de" hreflang="de">Deutsch' in (
            html
        ), path
        assert '<span aria-current="true" lang="en">English</span>' in html, path


def test_switch_ignores_unknown_languages_and_foreign_targets(client):
    response = client.get("/language?lang=xx&next=https://evil.example/")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "Set-Cookie" not in response.headers
    assert html_lang(client.get("/", headers={"Accept-Language": "fr-FR,fr"})) == "en"


# --- the API stays English ------------------------------------------------------------------------


def test_api_answers_in_english_whatever_the_browser_asks(client):
    response = client.post(
        "/permits",
        json={"name": "", "license_plate": "AB!", "address": "1 St"},
        headers=GERMAN,
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]
    assert errors["name"] == ["Enter the name."]
    assert errors["license_plate"][0].startswith("That licence plate is not valid.")
    client.set_cookie("lang", "de")
    missing = client.get("/permits/not-an-id", headers=GERMAN)
    assert missing.status_code == 404 and missing.get_json()["status"] == "Not Found"
