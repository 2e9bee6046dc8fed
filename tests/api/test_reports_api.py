"""Monthly reports in the JSON API (SPEC.md sections 4 and 10): the list, newest first, and each
month's PDF, for admins and viewers only."""

from __future__ import annotations

import io

import pypdf
import pytest

from permit_service.domain_users import ROLES
from permit_service.services import reports
from tests.conftest import auth_headers


def make(app, *months: str) -> None:
    with app.app_context():
        for month in months:
            reports.make_monthly_report(month, notify=False)


def test_reports_are_listed_newest_first_with_where_their_pdf_is(app, client, viewer_headers):
    assert client.get("/reports", headers=viewer_headers).get_json() == []
    make(app, "2026-01", "2026-03", "2025-11")
    response = client.get("/reports", headers=viewer_headers)
    assert response.status_code == 200
    listed = response.get_json()
    assert [r["month"] for r in listed] == ["2026-03", "2026-01", "2025-11"]
    assert listed[0]["url"] == "/reports/2026-03.pdf"
    assert listed[0]["created_at"].endswith("+00:00")  # the API speaks UTC


def test_a_months_pdf_is_served_as_application_pdf(app, client, admin_headers):
    make(app, "2026-02")
    url = client.get("/reports", headers=admin_headers).get_json()[0]["url"]
    response = client.get(url, headers=admin_headers)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert 'filename="permit-report-2026-02.pdf"' in response.headers["Content-Disposition"]
    text = pypdf.PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    assert "monthly report February 2026" in text


@pytest.mark.parametrize("path", ["/reports", "/reports/2026-02.pdf"])
def test_without_a_token_401_and_only_admins_and_viewers_read(app, client, path):
    make(app, "2026-02")
    refused = client.get(path)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    for role in ROLES:  # every role there is: those that may not read reports get 403
        answer = client.get(path, headers=auth_headers(app, role))
        assert answer.status_code == (200 if role in reports.READERS else 403), role


@pytest.mark.parametrize("month", ["2026-04", "2026-13", "latest", "2026-02.pdf", "0000-00"])
def test_an_unknown_or_malformed_month_is_404(app, client, viewer_headers, month):
    make(app, "2026-02")
    response = client.get(f"/reports/{month}.pdf", headers=viewer_headers)
    assert response.status_code == 404
    assert response.is_json and response.get_json()["code"] == 404


def test_unknown_query_parameters_are_refused(app, client, viewer_headers):
    make(app, "2026-02")
    for path in ("/reports?month=2026-02", "/reports/2026-02.pdf?download=1"):
        response = client.get(path, headers=viewer_headers)
        assert response.status_code == 422, path
