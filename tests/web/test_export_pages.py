"""The queue's "Export CSV" button and the export's page: progress without JavaScript, the
download once done, the filter of the queue, who may see what."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from permit_service import clock
from permit_service.services import exports as service
from permit_service.services import zones as zone_service
from tests import factories
from tests.web.conftest import text


def _export(client, **form):
    response = client.post("/admin/exports", data=form)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/admin/exports/[0-9a-f-]{36}", location)
    return location


def _run(app, location):
    with app.app_context():
        assert service.run_export(location.rsplit("/", 1)[1]) == "done"


def test_the_queue_offers_an_export_of_its_filter(app, admin_client):
    with app.app_context():
        zone_service.create_zone("NORTH", "North", None, "0")
    page = admin_client.get("/admin/permits?status=approved&zone=NORTH&from=2026-01-01&q=abc")
    html = page.get_data(as_text=True)
    form = html[
        html.index('action="/admin/exports"') : html.index(
            "</form>", html.index('action="/admin/exports"')
        )
    ]
    assert 'name="status" value="approved"' in form
    assert 'name="zone" value="NORTH"' in form
    assert 'name="from" value="2026-01-01"' in form
    assert 'name="csrf_token"' in form
    assert "the search is not applied" in text(page)


def test_export_page_shows_progress_then_the_download(app, admin_client):
    with app.app_context():
        factories.make_permit(plate="WB-1", name="=2+3")
        factories.make_permit("approved", plate="WB-2")
        factories.make_permit("approved", plate="WB-3")
    location = _export(admin_client, status="approved")
    waiting = admin_client.get(location)
    assert waiting.status_code == 200
    assert waiting.headers["Refresh"] == "2"  # updates itself without JavaScript
    assert "Waiting for a worker" in text(waiting)
    assert admin_client.get(f"{location}/download").status_code == 409
    _run(app, location)
    ready = admin_client.get(location)
    assert "Refresh" not in ready.headers
    assert "The export is ready: 2 permits." in text(ready)
    assert "Approved" in text(ready)
    download = admin_client.get(f"{location}/download")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert sorted(r["license_plate"] for r in rows) == ["WB-2", "WB-3"]


def test_dates_of_the_queue_are_whole_local_days(app, admin_client):
    with app.app_context():
        clock.advance(timedelta(days=-3))
        factories.make_permit(plate="OLD-1")
        clock.advance(timedelta(days=3))
        factories.make_permit(plate="NEW-1")
        from permit_service.localtime import local_today
        from permit_service.models import utcnow

        today = local_today(utcnow())
    location = _export(
        admin_client, status="all", **{"from": today.isoformat(), "to": today.isoformat()}
    )
    _run(app, location)
    csv_text = admin_client.get(f"{location}/download").get_data(as_text=True)
    assert [r["license_plate"] for r in csv.DictReader(io.StringIO(csv_text))] == ["NEW-1"]


def test_a_viewer_exports_and_sees_only_their_own(app, admin_client, viewer_client):
    mine = _export(viewer_client, status="pending")
    assert viewer_client.get(mine).status_code == 200
    theirs = _export(admin_client, status="all")
    assert viewer_client.get(theirs).status_code == 404
    assert viewer_client.get(f"{theirs}/download").status_code == 404
    assert admin_client.get(mine).status_code == 200  # admins see every export


def test_export_needs_a_signed_in_staff_member_and_csrf(app, client, app_factory):
    assert client.post("/admin/exports", data={}).status_code in (302, 303)
    assert client.get("/admin/exports/00000000-0000-4000-8000-000000000000").status_code in (
        302,
        303,
    )
    guarded = app_factory(WTF_CSRF_ENABLED=True)
    refused = guarded.test_client().post("/admin/exports", data={"status": "all"})
    assert refused.status_code == 400  # no CSRF token: refused before anything else
    with guarded.app_context():
        from permit_service.extensions import db
        from permit_service.models import Export

        assert db.session.query(Export).count() == 0


def test_unknown_export_is_a_404_page(admin_client):
    for path in ("/admin/exports/nope", "/admin/exports/00000000-0000-4000-8000-000000000000"):
        answer = admin_client.get(path)
        assert answer.status_code == 404 and answer.mimetype == "text/html"


def test_bad_filter_values_export_without_them(app, admin_client):
    location = _export(admin_client, status="lost", zone="NOWHERE", **{"from": "yesterday"})
    _run(app, location)
    page = admin_client.get(location)
    assert "All" in text(page)


def test_the_page_speaks_german(app, admin_client):
    location = _export(admin_client, status="pending")
    admin_client.set_cookie("lang", "de")
    page = admin_client.get(location)
    assert "CSV-Export" in text(page)
