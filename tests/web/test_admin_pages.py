"""Staff: sign-in and sign-out, the review queue, decisions with flash messages, the history."""

from __future__ import annotations

import re
from urllib.parse import quote

from permit_service.services import permits as service
from permit_service.services import queries
from tests.web.conftest import ADMIN, VIEWER, apply_web, let_deadline_pass, login, text, title


def test_staff_pages_redirect_to_sign_in_when_signed_out(client, staff):
    for path in ("/admin/permits", "/admin/permits/2b1f8c1e-3c4f-4d5e-9a6b-7c8d9e0f1a2b"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == f"/admin/login?next={quote(path, safe='')}"
    response = client.get("/admin/login?next=%2Fadmin%2Fpermits")
    assert response.status_code == 200
    assert title(response) == "Staff sign-in · City parking permits"
    assert "Please sign in to see this page." in text(response)


def test_sign_in_goes_to_the_requested_page_with_a_fresh_session(client, staff):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker before login"
    response = login(client, next="/admin/permits?status=all")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/permits?status=all"
    with client.session_transaction() as session:
        assert "planted" not in session
        assert "_user_id" in session
    page = text(client.get("/admin/permits?status=all"))
    assert "Signed in as admin@example.test." in page
    assert "admin@example.test (administrator)" in page and "Sign out" in page


def test_sign_in_never_redirects_off_site(client, staff):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"):
        response = login(client, next=target)
        assert response.headers["Location"] == "/admin/permits", target
        client.post("/admin/logout")


def test_sign_in_after_a_decision_with_an_expired_session_goes_to_the_queue(client, staff):
    permit_id = apply_web(client)
    response = client.post(f"/admin/permits/{permit_id}/approve")
    assert response.status_code == 302  # signed out: to the sign-in page first
    next_path = f"/admin/permits/{permit_id}/approve"
    assert login(client, next=next_path).headers["Location"] == "/admin/permits"


def test_failed_sign_in_does_not_tell_whether_the_account_exists(client, staff):
    wrong_password = client.post(
        "/admin/login", data={"email": ADMIN[0], "password": "not-the-password"}
    )
    unknown_email = client.post(
        "/admin/login", data={"email": "nobody@example.test", "password": "not-the-password"}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    message = "That e-mail address and password do not match an active account."
    assert message in text(wrong_password) and message in text(unknown_email)
    assert text(wrong_password) == text(unknown_email).replace("nobody@example.test", ADMIN[0])
    assert client.get("/admin/permits").status_code == 302  # still signed out


def test_sign_in_form_errors(client, staff):
    response = client.post("/admin/login", data={"email": "", "password": ""})
    assert response.status_code == 422
    page = text(response)
    assert "Enter your e-mail address." in page and "Enter your password." in page
    # A NUL byte must be refused by the form, not reach the database (PostgreSQL rejects it).
    response = client.post("/admin/login", data={"email": "a\x00@example.test", "password": "x"})
    assert response.status_code == 422
    assert "Use one line of plain text" in text(response)


def test_sign_in_is_rate_limited(app_factory, staff):
    client = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute").test_client()
    for _ in range(2):
        assert (
            client.post(
                "/admin/login", data={"email": "x@example.test", "password": "nope"}
            ).status_code
            == 401
        )
    response = client.post("/admin/login", data={"email": ADMIN[0], "password": ADMIN[1]})
    assert response.status_code == 429
    assert "Too many attempts" in text(response)
    assert client.get("/admin/login").status_code == 200


def test_sign_out_is_a_post_and_ends_the_session(admin_client):
    assert admin_client.get("/admin/logout").status_code == 405
    response = admin_client.post("/admin/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert "You are signed out." in text(admin_client.get("/admin/login"))
    assert admin_client.get("/admin/permits").status_code == 302


def test_queue_shows_pending_first_with_counts_and_deadlines(app, admin_client):
    first = apply_web(admin_client, license_plate="AAA-111", name="Alice Older")
    second = apply_web(admin_client, license_plate="BBB-222", name="Bob Newer")
    third = apply_web(admin_client, license_plate="CCC-333", name="Carol Approved")
    with app.app_context():
        service.approve_permit(third, actor=ADMIN[0])
    response = admin_client.get("/admin/permits")
    assert response.status_code == 200
    assert title(response) == "Review queue: waiting for a decision · City parking permits"
    page = text(response)
    tabs = "Waiting for a decision 2 Waiting list 0 Approved 1 Refused or revoked 0 Expired 0 All 3"
    assert tabs in page
    assert "Showing 1–2 of 2 applications waiting for a decision. Soonest deadline first." in page
    assert page.index("AAA-111") < page.index("BBB-222")  # soonest deadline first
    assert "CCC-333" not in page
    assert "(in 5 minutes)" in page  # deadline of pending rows
    html = response.get_data(as_text=True)
    assert f'action="/admin/permits/{first}/approve"' in html
    assert f'action="/admin/permits/{second}/revoke"' in html
    assert f'<label for="reason-{second}">Reason (optional, shown to the resident)</label>' in html
    approved_tab = text(admin_client.get("/admin/permits?status=approved"))
    assert "CCC-333" in approved_tab and "AAA-111" not in approved_tab


def test_queue_search_by_plate_or_name(admin_client):
    apply_web(admin_client, license_plate="AAA-111", name="Alice Smith")
    apply_web(admin_client, license_plate="BBB-222", name="Bob Jones")
    by_plate = text(admin_client.get("/admin/permits?status=all&q=aaa 1"))
    assert "AAA-111" in by_plate and "BBB-222" not in by_plate
    by_name = text(admin_client.get("/admin/permits?status=all&q=JONES"))
    assert "BBB-222" in by_name and "AAA-111" not in by_name
    assert "matching “JONES”" in by_name
    nothing = admin_client.get("/admin/permits?q=%00%25_\\")
    assert nothing.status_code == 200
    assert "No applications are waiting for a decision. Search: “%_\\”." in text(nothing)


def test_queue_pagination(admin_client):
    for n in range(23):
        apply_web(admin_client, license_plate=f"PG-{n:03d}", name=f"Resident {n:02d}")
    first = text(admin_client.get("/admin/permits?status=all"))
    assert "Showing 1–20 of 23 permits." in first and "Page 1 of 2" in first
    assert "PG-022" in first and "PG-002" not in first
    second = admin_client.get("/admin/permits?status=all&page=2")
    assert "Showing 21–23 of 23 permits" in text(second)
    assert "PG-002" in text(second) and "PG-003" not in text(second)
    assert title(second).endswith("page 2 · City parking permits")
    assert "← Previous" in text(second) and "Next →" not in text(second)
    beyond = admin_client.get("/admin/permits?status=all&page=99999999999999999999")
    assert "There is no page 1000000: this list has only 2 pages. Go to the last page" in text(
        beyond
    )
    assert 'href="/admin/permits?status=all&amp;page=2">Go to the last page</a>' in (
        beyond.get_data(as_text=True)
    )
    assert admin_client.get("/admin/permits?status=bogus&page=x").status_code == 200


def test_approve_flashes_and_records_the_admin(admin_client):
    permit_id = apply_web(admin_client, license_plate="AP-1", name="Ann Pro")
    response = admin_client.post(
        f"/admin/permits/{permit_id}/approve", data={"next": "/admin/permits?status=pending"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/permits?status=pending"
    page = text(admin_client.get(response.headers["Location"]))
    assert "Approved AP-1 (Ann Pro)." in page
    detail = text(admin_client.get(f"/admin/permits/{permit_id}"))
    assert "Status Approved" in detail
    assert "Waiting for a decision → Approved admin@example.test" in detail
    again = admin_client.post(f"/admin/permits/{permit_id}/approve")
    assert again.headers["Location"] == f"/admin/permits/{permit_id}"
    assert "AP-1 (Ann Pro) was already approved; nothing changed." in text(
        admin_client.get(again.headers["Location"])
    )


def test_revoke_with_reason_shows_in_history(admin_client):
    permit_id = apply_web(admin_client, license_plate="RV-1", name="Rita Vee")
    response = admin_client.post(
        f"/admin/permits/{permit_id}/revoke", data={"reason": "  Moved out of the zone "}
    )
    page = text(admin_client.get(response.headers["Location"]))
    assert "Refused RV-1 (Rita Vee)." in page  # a pending application is refused
    assert "Waiting for a decision → Refused admin@example.test Moved out of the zone" in page
    assert "Applied: Waiting for a decision the resident" in page
    assert title(admin_client.get(f"/admin/permits/{permit_id}")) == (
        "Permit RV-1 (refused) · City parking permits"
    )
    again = admin_client.post(f"/admin/permits/{permit_id}/revoke")
    assert "RV-1 (Rita Vee) was already refused or revoked; nothing changed." in text(
        admin_client.get(again.headers["Location"])
    )
    conflict = admin_client.post(f"/admin/permits/{permit_id}/approve")
    assert "RV-1 (Rita Vee) cannot be approved: it has been refused or revoked." in text(
        admin_client.get(conflict.headers["Location"])
    )


def test_decisions_after_the_deadline_explain_the_expiry(app, admin_client):
    permit_id = apply_web(admin_client, license_plate="EX-1", name="Eve Late")
    let_deadline_pass(app)
    response = admin_client.post(
        f"/admin/permits/{permit_id}/approve", data={"next": "/admin/permits"}
    )
    page = text(admin_client.get(response.headers["Location"]))
    assert (
        "EX-1 (Eve Late) cannot be approved: its deadline passed before anyone decided, so it "
        "expired. The resident can apply again for this plate." in page
    )
    assert "Expired 1" in page
    revoke = admin_client.post(f"/admin/permits/{permit_id}/revoke")
    detail = text(admin_client.get(revoke.headers["Location"]))
    assert "EX-1 (Eve Late) cannot be refused" in detail
    assert "Waiting for a decision → Expired automatic expiry not approved before the deadline" in (
        detail
    )
    assert "the application expired; it can no longer be approved or refused" in detail
    html = admin_client.get(f"/admin/permits/{permit_id}").get_data(as_text=True)
    assert "/approve" not in html and "/revoke" not in html


def test_revoke_reason_must_be_one_short_line(admin_client):
    permit_id = apply_web(admin_client, license_plate="RS-1")
    for reason, message in (
        ("x" * 501, "Keep the reason under 500 characters."),
        ("a\nb", "Use one line"),
    ):
        response = admin_client.post(f"/admin/permits/{permit_id}/revoke", data={"reason": reason})
        page = text(admin_client.get(response.headers["Location"]))
        assert f"RS-1 was not changed: {message}" in page
        assert "Status Waiting for a decision" in page


def test_viewer_sees_the_queue_but_cannot_decide(app, admin_client, viewer_client):
    permit_id = apply_web(admin_client, license_plate="VW-1")
    queue = viewer_client.get("/admin/permits")
    assert "VW-1" in text(queue)
    assert "/approve" not in queue.get_data(as_text=True)
    assert "Only administrators can approve, refuse or revoke them." in text(
        viewer_client.get(f"/admin/permits/{permit_id}")
    )
    for action in ("approve", "revoke"):
        response = viewer_client.post(f"/admin/permits/{permit_id}/{action}")
        assert response.status_code == 403
        assert response.mimetype == "text/html"
        assert "Your account can look at permits but not decide them." in text(response)
    with app.app_context():
        assert queries.status_of(queries.get_permit(permit_id)).value == "pending"


def test_unknown_permit_is_an_html_404_for_staff(admin_client):
    for path in ("/admin/permits/2b1f8c1e-3c4f-4d5e-9a6b-7c8d9e0f1a2b", "/admin/permits/x"):
        assert admin_client.get(path).status_code == 404
    response = admin_client.post("/admin/permits/nope/approve")
    assert response.status_code == 404 and "We could not find that page" in text(response)


def test_decision_never_redirects_off_site(admin_client):
    permit_id = apply_web(admin_client, license_plate="OS-1")
    response = admin_client.post(
        f"/admin/permits/{permit_id}/approve", data={"next": "//evil.example/"}
    )
    assert response.headers["Location"] == f"/admin/permits/{permit_id}"


def test_signed_in_navigation_offers_a_sign_out_button(admin_client):
    html = admin_client.get("/admin/permits").get_data(as_text=True)
    assert re.search(
        r'<form method="post" action="/admin/logout"[^>]*>\s*'
        r'<input type="hidden" name="csrf_token"',
        html,
    )
    assert "Staff sign-in" not in text(admin_client.get("/"))
    assert VIEWER[0] not in html
