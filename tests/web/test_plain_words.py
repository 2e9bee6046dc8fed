"""Plain words: the start page explains itself, errors are at the top, and times say their zone."""

from __future__ import annotations

import re

import pytest

from permit_service.config import ConfigError, load_config
from tests.web.conftest import text


def test_start_page_says_what_who_what_next_how_long_and_privacy(app_factory):
    client = app_factory(
        PENDING_TTL_SECONDS=7200, CONTACT_EMAIL="parking@city.example"
    ).test_client()
    page = text(client.get("/"))
    assert "lets you park your car on the streets of the zone where you live" in page  # what for
    assert "Who can apply Anyone who lives in a residential parking zone" in page
    assert "A permit officer decides within 2 hours." in page  # the TTL from config, in words
    assert "approved or refused" in page  # what happens next
    assert "What is kept:" in page and "Who sees it:" in page and "How long:" in page
    html = client.get("/").get_data(as_text=True)
    assert '<a href="mailto:parking@city.example">parking@city.example</a>' in html


def test_start_page_without_a_contact_address_still_says_whom_to_ask(client):
    assert "Questions? Contact your city's permit office." in text(client.get("/"))


def test_form_error_summary_is_above_the_heading_and_takes_the_focus(client):
    response = client.post("/", data={"name": "", "license_plate": "", "address": ""})
    html = response.get_data(as_text=True)
    summary = html.index('class="error-summary"')
    assert summary < html.index("<h1>")
    assert re.search(r'<div class="error-summary"[^>]*tabindex="-1" autofocus>', html)
    assert 'href="#name"' in html  # each message links to its field
    assert html.count("autofocus") == 1


def test_failed_sign_in_summary_is_above_the_heading_and_takes_the_focus(client):
    response = client.post("/admin/login", data={"email": "a@b.example", "password": "wrong"})
    html = response.get_data(as_text=True)
    assert html.index("do not match an active account") < html.index("<h1>")
    assert re.search(r'<div class="error-summary"[^>]*autofocus>', html)


def test_a_page_without_errors_takes_no_focus(client):
    assert "autofocus" not in client.get("/").get_data(as_text=True)


def test_footer_names_the_city_time_zone(app_factory):
    client = app_factory(CITY_TIMEZONE="Europe/Helsinki").test_client()
    assert "Times are shown in the time zone Europe/Helsinki" in text(client.get("/"))


def test_unknown_city_time_zone_is_refused_at_start():
    with pytest.raises(ConfigError, match="CITY_TIMEZONE"):
        load_config("/tmp", {"CITY_TIMEZONE": "Mars/Olympus"})
    assert load_config("/tmp", {})["CITY_TIMEZONE"] == "UTC"
    assert (
        load_config("/tmp", {"CITY_TIMEZONE": "Europe/Berlin"})["CITY_TIMEZONE"] == "Europe/Berlin"
    )
