"""Zones on the web pages (issue 14): the apply form's zone select, the staff zones pages with
their waiting lists, and the waiting-list place and the fee on the receipt and in the queue."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, Zone
from permit_service.services import permits as service
from permit_service.services import zones
from tests.web.conftest import ADMIN, FORM, add_user, apply_web, login, text, title

GERMAN = {"Accept-Language": "de"}


def add_zone(app, code: str, name: str, quota: int | None = None, fee: str = "0", **kw) -> None:
    """A zone made through the service."""
    with app.app_context():
        zones.create_zone(
            code=code, name=name, quota=quota, monthly_fee=Decimal(fee), open=kw.get("open", True)
        )


def approve(app, permit_id: str) -> PermitStatus:
    """Approve through the service as an officer; the status it ends in."""
    with app.app_context():
        return service.approve_permit(permit_id, actor=ADMIN[0]).after


def stored(app, permit_id: str) -> Permit:
    with app.app_context():
        permit = db.session.get(Permit, permit_id)
        assert permit is not None
        db.session.expunge(permit)
        return permit


def zone_select(html: str) -> str | None:
    match = re.search(r'<select[^>]*name="zone".*?</select>', html, flags=re.S)
    return match.group(0) if match else None


def words_of(response) -> str:
    """The page's text as read: tags removed, no space left before a full stop or comma."""
    return re.sub(r" ([.,])", r"\1", text(response))


def error_summary(response) -> str:
    match = re.search(
        r'<div class="error-summary".*?</div>', response.get_data(as_text=True), flags=re.S
    )
    assert match, "no error summary"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0))).strip()


# --- the apply form ---------------------------------------------------------------------------


def test_one_open_zone_asks_for_no_zone_and_applies_there(app, client):
    page = client.get("/")
    assert zone_select(page.get_data(as_text=True)) is None
    words = text(page)
    assert "Zones and fees" in words
    # One free zone without a quota: no fee rules or waiting lists to explain.
    assert "Permits are issued for one zone: Whole city. " in words
    assert "Permits are free of charge." in words
    assert "waiting list" not in words
    permit_id = apply_web(client)
    assert stored(app, permit_id).zone == "CITY"


def test_several_open_zones_offer_a_select_with_names_and_fees(app, client):
    add_zone(app, "NORTH", "North", quota=2, fee="10.50")
    add_zone(app, "SHUT", "Harbour", open=False)
    html = client.get("/").get_data(as_text=True)
    select = zone_select(html)
    assert select is not None
    options = re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select)
    labels = dict(options)
    assert labels["NORTH"] == "North (€10.50 a month)"
    assert "SHUT" not in labels  # a closed zone is not offered
    assert labels[""] == "Choose a zone"
    # The start page explains the fee in plain words, per zone.
    page = text(client.get("/"))
    assert "North €10.50 Places free" in page
    assert "You pay nothing on this site." in page
    assert "you join the zone's waiting list: first come, first served" in page

    permit_id = apply_web(client, zone="NORTH")
    assert stored(app, permit_id).zone == "NORTH"


@pytest.mark.parametrize(
    ("zone", "why"),
    [("", "missing"), ("NOWHERE", "unknown"), ("SHUT", "closed")],
)
def test_a_missing_unknown_or_closed_zone_is_a_422_in_the_error_summary(app, client, zone, why):
    add_zone(app, "NORTH", "North")
    add_zone(app, "SHUT", "Harbour", open=False)
    response = client.post("/", data={**FORM, "zone": zone})
    assert response.status_code == 422, why
    assert title(response).startswith("Error:")
    summary = error_summary(response)
    assert summary.startswith("There is a problem")
    assert '<a href="#zone">' in response.get_data(as_text=True)
    assert zone_select(response.get_data(as_text=True)) is not None
    with app.app_context():
        assert db.session.query(Permit).count() == 0


def test_a_zone_closed_while_the_form_was_open_is_shown_again_with_its_message(app, client):
    # Two zones when the resident loaded the page; now only CITY is open, so the form has no
    # select, yet the refused choice must be visible to correct.
    add_zone(app, "SHUT", "Harbour", open=False)
    response = client.post("/", data={**FORM, "zone": "SHUT"})
    assert response.status_code == 422
    assert zone_select(response.get_data(as_text=True)) is not None
    assert error_summary(response).startswith("There is a problem")


def test_the_zone_error_in_german(app, client):
    add_zone(app, "NORTH", "Nord")
    response = client.post("/", data={**FORM, "zone": ""}, headers=GERMAN)
    assert response.status_code == 422
    summary = error_summary(response)
    assert summary.startswith("Es gibt ein Problem")
    assert "Zone" in summary and "Choose" not in summary  # the service's message, in German


# --- the zones pages --------------------------------------------------------------------------


def test_zones_need_a_sign_in(client):
    response = client.get("/admin/zones")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]


def test_the_admin_sees_the_zones_and_creates_one(admin_client, app):
    page = admin_client.get("/admin/zones")
    assert page.status_code == 200
    assert title(page) == "Zones · City parking permits"
    assert '<form method="post" action="/admin/zones"' in page.get_data(as_text=True)
    assert 'href="/admin/zones" aria-current="page"' in page.get_data(as_text=True)

    response = admin_client.post(
        "/admin/zones",
        data={"code": "north", "name": "North", "quota": "3", "monthly_fee": "12,50", "open": "y"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/zones"
    listing = admin_client.get("/admin/zones")
    row = re.search(
        r"<tr>\s*<th scope=\"row\"><a href=\"/admin/zones/NORTH\">.*?</tr>",
        listing.get_data(as_text=True),
        flags=re.S,
    )
    assert row, text(listing)
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(0))).split()
    assert " ".join(cells) == "North NORTH 0 3 nobody waiting €12.50 Open"
    assert "Zone North (NORTH) was created." in text(listing)
    with app.app_context():
        zone = db.session.get(Zone, "NORTH")
        assert (zone.quota, zone.monthly_fee, zone.open) == (3, Decimal("12.50"), True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"code": "", "monthly_fee": "1"}, "Enter the zone's code."),
        ({"quota": "-1"}, "Enter the quota as a whole number of 0 or more, or leave it empty."),
        ({"quota": "many"}, "Enter the quota as a whole number of 0 or more, or leave it empty."),
        ({"monthly_fee": "abc"}, "Enter the monthly fee as an amount, for example 12.50."),
        (
            {"monthly_fee": "1.005"},
            "Enter the monthly fee as an amount of 0 or more with at most 2 decimals.",
        ),
        ({"monthly_fee": ""}, "Enter the monthly fee (0 for a free permit)."),
        ({"name": ""}, "Enter the zone's name."),
    ],
)
def test_creating_a_zone_with_bad_input_shows_the_messages(admin_client, app, fields, message):
    data = {"code": "EAST", "name": "East", "quota": "", "monthly_fee": "5", **fields}
    response = admin_client.post("/admin/zones", data=data)
    assert response.status_code == 422
    assert message in error_summary(response)
    with app.app_context():
        assert db.session.get(Zone, "EAST") is None


def test_a_taken_code_is_a_409_on_the_code_field(admin_client, app):
    add_zone(app, "NORTH", "North")
    response = admin_client.post(
        "/admin/zones", data={"code": "NORTH", "name": "Other", "monthly_fee": "0"}
    )
    assert response.status_code == 409
    assert "A zone with the code NORTH exists already. Choose another code." in error_summary(
        response
    )


def test_the_admin_edits_a_zone(admin_client, app):
    add_zone(app, "NORTH", "North", quota=1, fee="10")
    page = admin_client.get("/admin/zones/NORTH")
    html = page.get_data(as_text=True)
    assert title(page) == "Zone North (NORTH) · City parking permits"
    assert re.search(r'<input[^>]* name="monthly_fee"[^>]* value="10.00">', html)
    assert re.search(r'<input[^>]* name="quota"[^>]* value="1">', html)
    assert 'name="code"' not in html  # the code does not change
    response = admin_client.post(
        "/admin/zones/NORTH", data={"name": "North side", "quota": "", "monthly_fee": "11.5"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/zones/NORTH"
    with app.app_context():
        zone = db.session.get(Zone, "NORTH")
        # The checkbox left out means closed; an empty quota means no limit.
        assert (zone.name, zone.quota, zone.monthly_fee, zone.open) == (
            "North side",
            None,
            Decimal("11.50"),
            False,
        )
    assert "Zone North side (NORTH) was saved." in text(admin_client.get("/admin/zones/NORTH"))


def test_an_unknown_zone_is_an_html_404(admin_client):
    response = admin_client.get("/admin/zones/NOWHERE")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_a_viewer_reads_the_zones_but_has_no_forms_and_cannot_change_them(viewer_client, app):
    page = viewer_client.get("/admin/zones")
    assert page.status_code == 200
    assert '<form method="post" action="/admin/zones"' not in page.get_data(as_text=True)
    assert "Only administrators can add or change them." in text(page)
    detail = viewer_client.get("/admin/zones/CITY")
    assert detail.status_code == 200
    assert 'action="/admin/zones/CITY"' not in detail.get_data(as_text=True)
    data = {"code": "EAST", "name": "East", "monthly_fee": "1"}
    assert viewer_client.post("/admin/zones", data=data).status_code == 403
    assert viewer_client.post("/admin/zones/CITY", data=data).status_code == 403
    with app.app_context():
        assert db.session.get(Zone, "EAST") is None
        assert db.session.get(Zone, "CITY").name != "East"


def test_zone_forms_need_the_csrf_token(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    add_user(app, ADMIN, "admin")
    client = app.test_client()
    html = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    creds = {"email": ADMIN[0], "password": ADMIN[1], "csrf_token": token}
    assert client.post("/admin/login", data=creds).status_code == 303
    data = {"code": "EAST", "name": "East", "monthly_fee": "1"}
    assert client.post("/admin/zones", data=data).status_code == 400
    assert client.post("/admin/zones/CITY", data=data).status_code == 400
    with app.app_context():
        assert db.session.get(Zone, "EAST") is None
    page = client.get("/admin/zones").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/admin/zones", data={**data, "csrf_token": token}).status_code == 303


def test_the_waiting_list_in_order_with_local_times(app_factory):
    app = app_factory(CITY_TIMEZONE="Europe/Berlin")
    add_user(app, ADMIN, "admin")
    client = app.test_client()
    assert login(client).status_code == 303
    add_zone(app, "NORTH", "North", quota=1, fee="10")
    ids = [apply_web(client, zone="NORTH", license_plate=f"WL-{n}") for n in range(1, 4)]
    assert [approve(app, i) for i in ids] == [
        PermitStatus.APPROVED,
        PermitStatus.WAITLISTED,
        PermitStatus.WAITLISTED,
    ]
    listing = text(client.get("/admin/zones"))
    assert "North NORTH 1 1 2 waiting €10.00 Open" in listing
    page = client.get("/admin/zones/NORTH")
    html = page.get_data(as_text=True)
    table = re.search(r'<table class="waitlist.*?</table>', html, flags=re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]
    second, third = (stored(app, i) for i in ids[1:])
    plain = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).split() for r in rows]
    assert [r[:3] for r in plain] == [
        ["1", "WL-2", second.reference],
        ["2", "WL-3", third.reference],
    ]
    assert plain[0][-1] in {"CET", "CEST"}  # local time, with the zone's abbreviation
    assert f'href="/admin/permits/{second.id}' in table


# --- the receipt and the queue ----------------------------------------------------------------


def test_a_waitlisted_receipt_says_the_place_in_words(app, client):
    add_zone(app, "NORTH", "North", quota=1, fee="10")
    ids = [apply_web(client, zone="NORTH", license_plate=f"RQ-{n}") for n in range(1, 4)]
    for permit_id in ids:
        approve(app, permit_id)
    page = client.get(f"/applications/{ids[2]}")
    assert page.status_code == 200
    words = words_of(page)
    assert "Status: On the waiting list" in words
    assert "You are number 2 in the waiting list for zone North." in words
    assert "Once it starts, the permit costs €10.00 a month" in words
    assert "Leave the waiting list…" in words
    german = words_of(client.get(f"/applications/{ids[2]}", headers=GERMAN))
    assert "Sie sind Nummer 2 auf der Warteliste für die Zone North." in german
    assert "10,00 €" in german
    # The line moves: the first in it leaves, the second is now first.
    with app.app_context():
        service.cancel_permit(ids[1])
    assert "You are number 1 in the waiting list for zone North." in words_of(
        client.get(f"/applications/{ids[2]}")
    )


def test_leaving_the_waiting_list_asks_first_and_says_so(app, client):
    add_zone(app, "NORTH", "North", quota=0)
    permit_id = apply_web(client, zone="NORTH")
    assert approve(app, permit_id) is PermitStatus.WAITLISTED
    confirm = client.get(f"/applications/{permit_id}/cancel")
    assert "Leave the waiting list with ABC-123?" in text(confirm)
    response = client.post(f"/applications/{permit_id}/cancel")
    assert response.status_code == 303
    page = text(client.get(f"/applications/{permit_id}"))
    assert "You left the waiting list. Your place goes to the next in line." in page
    assert "Status: Left the waiting list" in page


def test_the_permit_shows_its_zone_and_fee_in_the_page_language(app, client):
    add_zone(app, "NORTH", "North", fee="10")
    permit_id = apply_web(client, zone="NORTH")
    assert approve(app, permit_id) is PermitStatus.APPROVED
    fee = stored(app, permit_id).fee
    assert fee == Decimal("120.00")  # 12 started months of the default 365 days
    card = re.search(
        r'<section aria-labelledby="permit-title" class="permit-card">.*?</section>',
        client.get(f"/applications/{permit_id}").get_data(as_text=True),
        flags=re.S,
    ).group(0)
    assert '<dd class="permit-zone-name">North (NORTH)</dd>' in card
    assert '<dd class="permit-fee">€120.00</dd>' in card
    german = client.get(f"/applications/{permit_id}", headers=GERMAN).get_data(as_text=True)
    assert '<dd class="permit-fee">120,00\xa0€</dd>' in german
    assert "<dt>Gebühr</dt>" in german


def test_the_queue_has_a_waiting_list_tab_a_zone_filter_and_fees(admin_client, app):
    add_zone(app, "NORTH", "North", quota=1, fee="10")
    add_zone(app, "SOUTH", "South")
    first = apply_web(admin_client, zone="NORTH", license_plate="QN-1")
    second = apply_web(admin_client, zone="NORTH", license_plate="QN-2")
    apply_web(admin_client, zone="SOUTH", license_plate="QS-1")
    approve(app, first)
    approve(app, second)

    tab = admin_client.get("/admin/permits?status=waitlisted")
    words = text(tab)
    assert "Waiting list 1" in words
    assert "Showing 1–1 of 1 permit on a waiting list." in words
    row = re.search(r"<tbody>.*?</tbody>", tab.get_data(as_text=True), flags=re.S).group(0)
    plain = " ".join(re.sub(r"<[^>]+>", " ", row).split())
    assert "QN-2" in plain and "On the waiting list North 1" in plain
    assert "€10.00/month" in plain

    approved = text(admin_client.get("/admin/permits?status=approved"))
    assert "€120.00" in approved

    south = admin_client.get("/admin/permits?status=all&zone=SOUTH")
    body = south.get_data(as_text=True)
    assert "QS-1" in body and "QN-1" not in body and "QN-2" not in body
    tabs = "Waiting for a decision 1 Waiting list 0 Approved 0 Refused or revoked 0 Expired 0 All 1"
    assert tabs in text(south)  # the tabs count within the zone
    assert '<option value="SOUTH" selected>' in body
    assert "zone=SOUTH" in re.search(
        r'<nav aria-label="Permits by status".*?</nav>', body, flags=re.S
    ).group(0)
    # An unknown zone in the address filters nothing, it does not fail the page.
    assert admin_client.get("/admin/permits?status=all&zone=NOPE").status_code == 200


def test_the_permit_detail_shows_zone_fee_and_place(admin_client, app):
    add_zone(app, "NORTH", "North", quota=0, fee="7")
    permit_id = apply_web(admin_client, zone="NORTH")
    response = admin_client.post(f"/admin/permits/{permit_id}/approve", data={})
    assert response.status_code == 303
    page = text(admin_client.get(f"/admin/permits/{permit_id}"))
    assert "Approved ABC-123 (John Doe), but zone North is full: it is number 1" in page
    assert "Zone North (NORTH)" in page
    assert "Place in the waiting list number 1" in page
    assert "Fee €7.00 a month, fixed when the validity starts" in page


def test_a_place_given_by_the_line_reads_in_the_history(admin_client, app):
    add_zone(app, "NORTH", "North", quota=0)
    permit_id = apply_web(admin_client, zone="NORTH")
    assert approve(app, permit_id) is PermitStatus.WAITLISTED
    response = admin_client.post(
        "/admin/zones/NORTH", data={"name": "North", "quota": "1", "monthly_fee": "0", "open": "y"}
    )
    assert response.status_code == 303
    assert stored(app, permit_id).status == PermitStatus.APPROVED.value
    page = text(admin_client.get(f"/admin/permits/{permit_id}"))
    assert (
        "On the waiting list → Approved the waiting list (automatic) "
        "a place in the zone became free" in page
    )
    german = text(admin_client.get(f"/admin/permits/{permit_id}", headers=GERMAN))
    assert "Auf der Warteliste → Genehmigt die Warteliste (automatisch)" in german


def test_the_built_in_zone_is_named_in_the_page_language_until_renamed(app, client):
    """CITY, made by migration 0008 as "Whole city", reads "Ganze Stadt" on German pages."""
    assert "Permits are issued for one zone: Whole city." in words_of(client.get("/"))
    german = words_of(client.get("/", headers=GERMAN))
    assert "Ganze Stadt" in german and "Whole city" not in german
    with app.app_context():
        zones.update_zone("CITY", name="Old town")
    german = words_of(client.get("/", headers=GERMAN))
    assert "Old town" in german and "Ganze Stadt" not in german
