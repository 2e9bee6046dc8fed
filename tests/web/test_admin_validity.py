"""Staff pages of issue 13: references in the queue and history (searchable), validity of approved
permits, renewal by an admin inside the window, the resident's cancellation in the history."""

from __future__ import annotations

from datetime import timedelta

from permit_service import clock
from permit_service.domain import PermitStatus
from permit_service.localtime import local_today
from permit_service.models import utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from tests import factories
from tests.web.conftest import ADMIN, apply_web, login, text


def _approve(app, permit_id: str, days: int | None = None) -> None:
    with app.app_context():
        until = None
        if days is not None:
            until = (local_today(utcnow(), _utc()) + timedelta(days=days)).isoformat()
        service.approve_permit(permit_id, actor=ADMIN[0], valid_until=until)


def _utc():
    from zoneinfo import ZoneInfo

    return ZoneInfo("UTC")


def _permit(app, permit_id: str):
    with app.app_context():
        return queries.get_permit(permit_id)


def test_queue_rows_show_the_reference_and_approved_rows_their_validity(app, admin_client):
    pending = apply_web(admin_client, license_plate="QR-1", name="Quinn Row")
    done = apply_web(admin_client, license_plate="QR-2", name="Quinta Row")
    _approve(app, done)
    html = admin_client.get("/admin/permits").get_data(as_text=True)
    # The reference sits under the plate in the row's heading cell (issue 16: a narrower table).
    reference = _permit(app, pending).reference
    assert f'<code class="reference-cell" title="Reference">{reference}</code></th>' in html
    approved_tab = admin_client.get("/admin/permits?status=approved")
    page = text(approved_tab)
    assert "Valid until" in page and "Decide by" not in page
    until = _permit(app, done).valid_until
    assert f'<time datetime="{until.isoformat()}">' in approved_tab.get_data(as_text=True)
    assert _permit(app, done).reference in page


def test_queue_search_finds_a_permit_by_its_reference_in_any_case(app, admin_client):
    wanted = apply_web(admin_client, license_plate="SR-1", name="Sam Ref")
    apply_web(admin_client, license_plate="SR-2", name="Sue Other")
    reference = _permit(app, wanted).reference
    for typed in (reference, reference.lower(), reference.replace("-", "").lower()):
        page = text(admin_client.get("/admin/permits", query_string={"status": "all", "q": typed}))
        assert "SR-1" in page and "SR-2" not in page, typed
    assert "Search by licence plate, name or reference" in page


def test_the_permit_page_shows_reference_validity_and_offers_renewal_only_in_the_window(
    app, admin_client
):
    permit_id = apply_web(admin_client, license_plate="RN-1", name="Rene New")
    _approve(app, permit_id)
    permit = _permit(app, permit_id)
    response = admin_client.get(f"/admin/permits/{permit_id}")
    page = text(response)
    assert f"Reference {permit.reference}" in page
    assert "Valid from" in page and "Valid until" in page
    opens = local_today(permit.valid_until, _utc()) - timedelta(days=29)
    assert f"Renewal opens on {opens.day} {opens.strftime('%B')} {opens.year}." in page
    assert f'action="/admin/permits/{permit_id}/renew"' not in response.get_data(as_text=True)
    # Sent anyway: refused with the date, nothing changed.
    late = admin_client.post(f"/admin/permits/{permit_id}/renew")
    assert late.status_code == 303
    assert "RN-1 (Rene New) was not renewed: This permit cannot be renewed yet." in text(
        admin_client.get(late.headers["Location"])
    )
    assert _permit(app, permit_id).valid_until == permit.valid_until

    clock.advance(timedelta(days=340))  # inside the last 30 days
    login(admin_client)  # the session's absolute limit has passed meanwhile
    html = admin_client.get(f"/admin/permits/{permit_id}").get_data(as_text=True)
    assert f'action="/admin/permits/{permit_id}/renew"' in html
    assert "it can be renewed now" in text(admin_client.get(f"/admin/permits/{permit_id}"))
    response = admin_client.post(f"/admin/permits/{permit_id}/renew")
    assert response.status_code == 303
    page = text(admin_client.get(response.headers["Location"]))
    renewed = _permit(app, permit_id)
    assert renewed.valid_until > permit.valid_until + timedelta(days=364)
    assert "Renewed RN-1 (Rene New): now valid until" in page
    assert f"Renewed {ADMIN[0]} renewed until" in page  # the history entry
    new_end = local_today(renewed.valid_until, _utc())
    german = text(
        admin_client.get(f"/admin/permits/{permit_id}", headers={"Accept-Language": "de"})
    )
    assert f"Verlängert {ADMIN[0]} verlängert bis {new_end.day}." in german


def test_a_viewer_cannot_renew(app, admin_client, viewer_client):
    permit_id = apply_web(admin_client, license_plate="VR-1")
    _approve(app, permit_id, days=5)
    page = viewer_client.get(f"/admin/permits/{permit_id}").get_data(as_text=True)
    assert "/renew" not in page
    assert viewer_client.post(f"/admin/permits/{permit_id}/renew").status_code == 403


def test_the_history_shows_the_residents_cancellation_in_words(app, admin_client, client):
    permit_id = apply_web(admin_client, license_plate="HC-1", name="Hana Cee")
    _approve(app, permit_id)
    assert client.post(f"/applications/{permit_id}/cancel").status_code == 303
    page = text(admin_client.get(f"/admin/permits/{permit_id}"))
    assert "Status Cancelled" in page
    assert "Approved → Cancelled the resident cancelled by the resident" in page
    assert "The resident cancelled this permit" in page
    german = text(
        admin_client.get(f"/admin/permits/{permit_id}", headers={"Accept-Language": "de"})
    )
    assert (
        "Genehmigt → Zurückgegeben die antragstellende Person "
        "auf Wunsch der antragstellenden Person beendet"
    ) in german
    # ... and in the queue's "refused or revoked" tab.
    assert "Cancelled" in text(admin_client.get("/admin/permits?status=revoked"))


def test_revoking_a_permit_whose_validity_ended_explains_it(app, admin_client):
    with app.app_context():
        permit = factories.make_permit(PermitStatus.PENDING, plate="VE-1", name="Val End")
    _approve(app, permit.id, days=0)
    clock.advance(timedelta(days=2))
    login(admin_client)  # the session's absolute limit has passed meanwhile
    response = admin_client.post(f"/admin/permits/{permit.id}/revoke")
    page = text(admin_client.get(response.headers["Location"]))
    assert "VE-1 (Val End) cannot be changed: its validity ended on" in page
    assert "Validity ended" in page and "Status Expired" in page


def test_the_approve_form_takes_an_optional_last_day(app, admin_client):
    first = apply_web(admin_client, license_plate="VU-1", name="Vera Until")
    page = admin_client.get(f"/admin/permits/{first}").get_data(as_text=True)
    assert f'<label for="valid-until-{first}">Valid until (optional)</label>' in page
    assert "Leave empty for the usual 365 days; or choose an earlier last day." in text(
        admin_client.get(f"/admin/permits/{first}")
    )
    last_day = local_today(utcnow(), _utc()) + timedelta(days=40)
    response = admin_client.post(
        f"/admin/permits/{first}/approve", data={"valid_until": last_day.isoformat()}
    )
    assert response.status_code == 303
    permit = _permit(app, first)
    assert permit.status == "approved"
    assert local_today(permit.valid_until, _utc()) == last_day
    assert permit.valid_until.hour == 23 and permit.valid_until.minute == 59
    assert "Approved VU-1 (Vera Until)." in text(admin_client.get(response.headers["Location"]))

    # Too far ahead, in the past, or not a date: the service's rule, said on the page; no change.
    second = apply_web(admin_client, license_plate="VU-2", name="Vic Until")
    too_late = (local_today(utcnow(), _utc()) + timedelta(days=400)).isoformat()
    for value, says in (
        (too_late, "The end of validity can be at most 365 days ahead"),
        ("2001-01-01", "The end of validity must be in the future."),
        ("soon", "Give the end of validity as a date (YYYY-MM-DD)"),
    ):
        response = admin_client.post(
            f"/admin/permits/{second}/approve", data={"valid_until": value}
        )
        assert response.status_code == 303
        page = text(admin_client.get(response.headers["Location"]))
        assert f"VU-2 was not changed: {says}" in page, value
        assert _permit(app, second).status == "pending"
    # The queue's compact rows approve with the default length, no date field.
    queue = admin_client.get("/admin/permits").get_data(as_text=True)
    assert f'id="valid-until-{second}"' not in queue
