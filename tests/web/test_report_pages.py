"""The monthly reports' staff page (SPEC.md section 5, /admin/reports): the list with local
times and downloads, the admin's "make last month's report now" button (CSRF-protected)."""

from __future__ import annotations

import io
import re

import pypdf
import pytest
import sqlalchemy as sa

from permit_service.extensions import db
from permit_service.models import Notification, Report
from permit_service.services import reports
from tests.report_data import ZONE, at, utc
from tests.web.conftest import ADMIN, add_user, text, title

GERMAN = {"Accept-Language": "de"}


@pytest.fixture
def app(app_factory):
    """Times on the pages in Berlin's."""
    return app_factory(CITY_TIMEZONE=ZONE)


def make(app, month: str, when) -> None:
    with app.app_context(), at(when):
        reports.make_monthly_report(month, notify=False)


def test_the_reports_page_needs_a_sign_in(client):
    for path in ("/admin/reports", "/admin/reports/2026-02.pdf"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_the_list_shows_each_month_with_its_local_time_and_its_pdf(app, admin_client):
    assert "No report has been made yet." in text(admin_client.get("/admin/reports"))
    make(app, "2026-02", utc(2026, 3, 1, 2, 15))  # 03:15 CET, as Beat makes it
    make(app, "2026-03", utc(2026, 4, 1, 1, 15))  # 03:15 CEST
    page = admin_client.get("/admin/reports")
    assert page.status_code == 200
    assert title(page) == "Monthly reports · City parking permits"
    body = text(page)
    assert body.index("March 2026") < body.index("February 2026")  # newest first
    assert "1 April 2026, 03:15 CEST" in body and "1 March 2026, 03:15 CET" in body
    html = page.get_data(as_text=True)
    assert 'href="/admin/reports" aria-current="page"' in html
    links = re.findall(r'href="(/admin/reports/[^"]+\.pdf)"', html)
    assert links == ["/admin/reports/2026-03.pdf", "/admin/reports/2026-02.pdf"]
    pdf = admin_client.get(links[0])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "March 2026" in pypdf.PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert admin_client.get("/admin/reports/2026-04.pdf").status_code == 404
    assert admin_client.get("/admin/reports/nonsense.pdf").status_code == 404


def test_an_admin_makes_last_months_report_now_and_the_admins_are_told(app, admin_client):
    with at(utc(2026, 4, 2, 8)):
        page = admin_client.get("/admin/reports")
        assert "Make the report of March 2026" in text(page)
        done = admin_client.post("/admin/reports")
        assert done.status_code == 303 and done.headers["Location"] == "/admin/reports"
        shown = admin_client.get("/admin/reports")
    assert "The report of March 2026 was made and e-mailed to the administrators." in text(shown)
    with app.app_context():
        assert db.session.scalars(sa.select(Report.month)).all() == ["2026-03"]
        assert db.session.scalars(sa.select(Notification.recipient)).all() == [ADMIN[0]]


def test_a_viewer_reads_reports_but_cannot_make_one(app, viewer_client):
    make(app, "2026-02", utc(2026, 3, 1, 2, 15))
    page = viewer_client.get("/admin/reports")
    assert page.status_code == 200
    assert "/admin/reports/2026-02.pdf" in page.get_data(as_text=True)
    assert "Make the report" not in text(page)
    refused = viewer_client.post("/admin/reports")
    assert refused.status_code == 403
    assert "Your account can read reports but not make them." in text(refused)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 1


def test_the_page_in_german(app, admin_client):
    make(app, "2026-03", utc(2026, 4, 1, 1, 15))
    page = admin_client.get("/admin/reports", headers=GERMAN)
    body = text(page)
    assert title(page) == "Monatsberichte · Bewohnerparken der Stadt"
    assert "März 2026" in body and "1. April 2026, 03:15 MESZ" in body
    assert "Bericht März 2026 herunterladen (PDF)" in body


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token"
    return match.group(1)


def test_the_button_needs_its_csrf_token(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True, CITY_TIMEZONE=ZONE)
    add_user(app, ADMIN, "admin")
    client = app.test_client()
    token = _token(client.get("/admin/login").get_data(as_text=True))
    signed_in = client.post(
        "/admin/login", data={"email": ADMIN[0], "password": ADMIN[1], "csrf_token": token}
    )
    assert signed_in.status_code == 303
    assert client.post("/admin/reports").status_code == 400
    page = client.get("/admin/reports").get_data(as_text=True)
    token = _token(page.split("make-title")[-1])
    assert client.post("/admin/reports", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 1
