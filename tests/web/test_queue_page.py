"""The review queue (issue 16): order, filters, earlier permits, decided columns, bulk decisions
with one summary, and news of applications that arrived since the page was loaded."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from permit_service import clock
from permit_service.extensions import db
from permit_service.services import permits as service
from permit_service.services import queries
from permit_service.services import zones as zone_service
from tests import factories
from tests.support import statements_run
from tests.web.conftest import ADMIN, apply_web, text


def rows(response):
    """The plates of the table's rows, top to bottom."""
    html = response.get_data(as_text=True)
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', html)


def made(app, *args, minutes_ago=0, **kwargs):
    """A permit made by the factory `minutes_ago` (its deadline that much earlier too)."""
    with app.app_context():
        clock.advance(timedelta(minutes=-minutes_ago))
        try:
            return factories.make_permit(*args, **kwargs).id
        finally:
            clock.advance(timedelta(minutes=minutes_ago))


def test_pending_soonest_deadline_first_and_columns_sort_both_ways(app, admin_client):
    made(app, plate="BB-2", name="Zoe", minutes_ago=1)
    made(app, plate="CC-3", name="Adam", minutes_ago=3)
    made(app, plate="AA-1", name="Mia", minutes_ago=2)
    page = admin_client.get("/admin/permits")
    assert rows(page) == ["CC-3", "AA-1", "BB-2"]
    assert "Soonest deadline first." in text(page)
    html = page.get_data(as_text=True)
    assert re.search(r'<th scope="col" aria-sort="ascending">\s*<a href="[^"]*"', html)
    by_plate = admin_client.get("/admin/permits?sort=license_plate")
    assert rows(by_plate) == ["AA-1", "BB-2", "CC-3"]
    # The heading of the active column links to the other direction.
    assert 'href="/admin/permits?status=pending&amp;sort=-license_plate"' in by_plate.get_data(
        as_text=True
    )
    assert rows(admin_client.get("/admin/permits?sort=-license_plate")) == ["CC-3", "BB-2", "AA-1"]
    assert rows(admin_client.get("/admin/permits?sort=name")) == ["CC-3", "AA-1", "BB-2"]
    assert rows(admin_client.get("/admin/permits?sort=-name")) == ["BB-2", "AA-1", "CC-3"]
    assert rows(admin_client.get("/admin/permits?sort=-created_at")) == ["BB-2", "AA-1", "CC-3"]
    assert rows(admin_client.get("/admin/permits?sort=created_at")) == ["CC-3", "AA-1", "BB-2"]
    # An unknown order falls back to the tab's default rather than failing.
    assert rows(admin_client.get("/admin/permits?sort=bogus")) == ["CC-3", "AA-1", "BB-2"]


def test_validity_end_sorts_the_approved_tab(app, admin_client):
    with app.app_context():
        soon = clock.now() + timedelta(days=20)
        later = clock.now() + timedelta(days=40)
    made(app, "approved", plate="VL-1", valid_until=later)
    made(app, "approved", plate="VL-2", valid_until=soon)
    made(app, "approved", plate="VL-3")  # the default: a year
    assert rows(admin_client.get("/admin/permits?status=approved&sort=valid_until")) == [
        "VL-2",
        "VL-1",
        "VL-3",
    ]
    assert rows(admin_client.get("/admin/permits?status=approved&sort=-valid_until")) == [
        "VL-3",
        "VL-1",
        "VL-2",
    ]


def test_zone_date_and_address_filters(app, admin_client):
    with app.app_context():
        zone_service.create_zone("EAST", "East side")
        service.apply_for_permit("East One", "EA-1", "5 East Rd", zone="EAST")
        service.apply_for_permit("City One", "CI-1", "5 East Rd", zone="CITY")
        zone_service.update_zone("EAST", open=False)  # the factory's applications: one open zone
    made(app, "approved", plate="OLD-1", minutes_ago=3 * 24 * 60, address="5 EAST RD")
    east = admin_client.get("/admin/permits?status=all&zone=east")
    assert rows(east) == ["EA-1"] and "Zone: East side." in text(east)
    with app.app_context():
        today = clock.now().date()
    recent = admin_client.get(f"/admin/permits?status=all&from={today - timedelta(days=1)}")
    assert sorted(rows(recent)) == ["CI-1", "EA-1"]
    old = admin_client.get(
        f"/admin/permits?status=all&from={today - timedelta(days=3)}&to={today - timedelta(days=3)}"
    )
    assert rows(old) == ["OLD-1"]
    # The tabs count what the zone and dates let through.
    assert "All 1" in text(old) and "Approved 1" in text(old)
    same_address = admin_client.get("/admin/permits?status=all&address=5+east+rd")
    assert sorted(rows(same_address)) == ["CI-1", "EA-1", "OLD-1"]
    assert "Address: 5 east rd." in text(same_address)
    # Malformed dates filter nothing.
    assert len(rows(admin_client.get("/admin/permits?status=all&from=yesterday"))) == 3


def test_earlier_permits_of_plate_and_address_in_one_statement(app, admin_client):
    made(app, "revoked", plate="EP-1", address="9 Oak St", minutes_ago=60)
    made(app, "expired", plate="EP-1", address="9 Oak St", minutes_ago=30)
    made(app, plate="EP-1", address="9 OAK ST")
    made(app, plate="EP-2", address="9 Oak St")
    made(app, plate="EP-3", address="1 Pine St")
    with app.app_context():
        engine = db.engine
    with statements_run(engine) as statements:
        page = admin_client.get("/admin/permits?sort=license_plate")
    html = page.get_data(as_text=True)
    body = text(page)
    assert rows(page) == ["EP-1", "EP-2", "EP-3"]
    assert "2 of this plate" in body  # EP-1: refused and expired before
    assert 'href="/admin/permits?status=all&amp;q=EP-1"' in html
    # EP-1's address (any case) had two permits before it, EP-2's three; EP-3's none.
    assert "2 at this address" in body and "3 at this address" in body
    assert 'href="/admin/permits?status=all&amp;address=9+Oak+St"' in html
    # The page's own statement carries them (and the tabs' counts): no statement of their own.
    earlier = [s for s in statements if "other.created_at < permits.created_at" in s]
    assert len(earlier) == 1, earlier
    assert "LIMIT" in earlier[0] and "tab_counts" in earlier[0]
    with app.app_context():
        marks = queries.earlier_permits(queries.list_permits(page_size=50).items)
        by_plate = {queries.get_permit(pid).license_plate: m for pid, m in marks.items()}
    # Refused EP-1 first; expired EP-1 after it; pending EP-1 after both, then EP-2 at the
    # same address (any case), EP-3 elsewhere.
    assert sorted(marks.values()) == [(0, 0), (0, 0), (0, 3), (1, 1), (2, 2)]
    assert by_plate["EP-2"] == (0, 3) and by_plate["EP-3"] == (0, 0)


def test_decided_tabs_say_when_and_by_whom(app, admin_client):
    made(app, "approved", plate="DC-1")
    made(app, "revoked", plate="DC-2")
    made(app, "pending", plate="DC-3", due=True)
    approved = admin_client.get("/admin/permits?status=approved")
    body = text(approved)
    assert "Decided Decided by" in body and "Decide by" not in body
    assert factories.ADMIN in body
    expired = text(admin_client.get("/admin/permits?status=expired"))
    assert "DC-3" in expired and "automatic expiry" in expired
    revoked = text(admin_client.get("/admin/permits?status=revoked"))
    assert "DC-2" in revoked and factories.ADMIN in revoked


def _bulk(client, ids, action, **extra):
    return client.post(
        "/admin/permits/bulk",
        data={"ids": ids, "action": action, "next": "/admin/permits", **extra},
    )


def test_bulk_approve_counts_each_outcome(app, admin_client):
    fresh = [made(app, plate=f"BK-{n}") for n in range(3)]
    due = made(app, plate="BK-DUE", due=True)
    refused = made(app, "revoked", plate="BK-REF")
    missing = "6f1c1b8e-2a3d-4e5f-8a9b-0c1d2e3f4a5b"
    response = _bulk(admin_client, [*fresh, due, refused, missing, fresh[0]], "approve")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/permits"
    page = text(admin_client.get("/admin/permits?status=approved"))
    assert "3 approved, 1 already expired, 1 already decided, 1 not found." in page, page
    with app.app_context():
        for pid in fresh:
            assert queries.status_of(queries.get_permit(pid)).value == "approved"
            events = queries.list_events(pid)
            assert [e.actor for e in events[1:]] == [ADMIN[0]]
        assert queries.status_of(queries.get_permit(due)).value == "expired"


def test_bulk_refuse_with_reason_and_one_plural(app, admin_client):
    pending = made(app, plate="BR-1")
    approved = made(app, "approved", plate="BR-2")
    due = made(app, plate="BR-3", due=True)
    _bulk(admin_client, [pending, approved, due], "revoke", reason="Not a resident")
    page = text(admin_client.get("/admin/permits"))
    assert "1 refused, 1 revoked, 1 already expired." in page
    with app.app_context():
        assert queries.revocation_reason(pending) == "Not a resident"


def test_bulk_summary_in_german(app, admin_client):
    ids = [made(app, plate=f"DE-{n}") for n in range(2)]
    ids.append(made(app, plate="DE-X", due=True))
    response = admin_client.post(
        "/admin/permits/bulk",
        data={"ids": ids, "action": "approve", "next": "/admin/permits"},
        headers={"Accept-Language": "de"},
    )
    assert response.status_code == 303
    page = text(admin_client.get("/admin/permits", headers={"Accept-Language": "de"}))
    assert "2 genehmigt, 1 bereits abgelaufen." in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "approve"}, "Select at least one row"),
        ({"action": "explode", "ids": ["x"]}, "Invalid value"),
    ],
)
def test_bulk_refuses_empty_or_unknown_requests(admin_client, data, message):
    response = admin_client.post("/admin/permits/bulk", data={**data, "next": "/admin/permits"})
    assert response.status_code == 303
    assert message in text(admin_client.get("/admin/permits"))


def test_viewer_may_not_decide_in_bulk(app, viewer_client):
    pid = made(app, plate="VW-1")
    assert _bulk(viewer_client, [pid], "approve").status_code == 403
    page = viewer_client.get("/admin/permits").get_data(as_text=True)
    assert 'id="bulk"' not in page and 'name="ids"' not in page


def test_news_of_applications_since_the_page_was_loaded(app, admin_client):
    first = admin_client.get("/admin/permits")
    html = first.get_data(as_text=True)
    reload_link = re.search(r'<a href="([^"]+)" id="news-reload">', html).group(1)
    poll = re.search(r'data-poll="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert 'src="/static/js/queue.js"' in html
    assert admin_client.get(poll).get_json() == {"count": 0, "message": ""}
    clock.advance(1)
    apply_web(admin_client, license_plate="NW-1")
    apply_web(admin_client, license_plate="NW-2")
    assert admin_client.get(poll).get_json() == {
        "count": 2,
        "message": "2 new applications since this page was loaded.",
    }
    again = admin_client.get(reload_link.replace("&amp;", "&"))
    assert "2 new applications since this page was loaded." in text(again)
    assert admin_client.get("/admin/permits/new").status_code == 400


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"status": "all", "sort": None, "page": None},
        {"page": 3},
        {"sort": "-license_plate", "page": None},
        {"sort": "expires_at"},  # the pending tab's own order: dropped from the link
        {"since": "2026-12-03T10:00:00+00:00"},
        {"q": "Müller & Söhne=1/2?#x%", "address": "Hauptstraße 1; c/o 'X' (rear)+"},
    ],
)
def test_queue_links_are_what_url_for_builds(app, change):
    from flask import url_for

    from permit_service.web.queue import QueueQuery

    with app.test_request_context("/admin/permits", base_url="http://city.example/sub"):
        view = QueueQuery(
            tab="pending",
            status=None,
            search="AB 12!",
            zone="A",
            day_from=date(2026, 11, 1),
            day_to=None,
            address="",
            sort="name",
            page=2,
            path=url_for("admin.queue"),
        )
        assert view.path == "/sub/admin/permits"
        values = {
            "status": "pending",
            "q": "AB 12!",
            "zone": "A",
            "from": "2026-11-01",
            "address": None,
            "sort": "name",
            "page": 2,
            **change,
        }
        if values.get("sort") == "expires_at":
            values["sort"] = None
        expected = url_for("admin.queue", **{k: v for k, v in values.items() if v is not None})
        assert view.link(**change) == expected


def test_a_queue_page_sends_one_statement(app, admin_client):
    """Issue 16: one statement for the page, its rows' earlier permits and the tabs' counts;
    the zones' names and the staff session come from the cache once read."""
    for n in range(3):
        made(app, plate=f"ST-{n}", minutes_ago=n)
    admin_client.get("/admin/permits")  # the zones' names and the session are read, then cached
    with app.app_context():
        engine = db.engine
    with statements_run(engine) as statements:
        page = admin_client.get("/admin/permits")
    assert rows(page) == ["ST-2", "ST-1", "ST-0"]
    assert "Waiting for a decision 3" in text(page)
    assert len(statements) == 1, statements
    assert "tab_counts" in statements[0]
