"""Pages show CITY_TIMEZONE times with the zone's abbreviation, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from permit_service.extensions import db
from permit_service.models import Permit, PermitEvent
from tests.web.conftest import ADMIN, add_user, apply_web, login, text

GERMAN = {"Accept-Language": "de"}


def applied_at(app, permit_id: str, moment: datetime) -> None:
    """Record the application (and its first event) as made at `moment`."""
    with app.app_context():
        db.session.execute(
            sa.update(Permit).where(Permit.id == permit_id).values(created_at=moment)
        )
        db.session.execute(
            sa.update(PermitEvent)
            .where(PermitEvent.permit_id == permit_id)
            .values(created_at=moment)
        )
        db.session.commit()


@pytest.mark.parametrize(
    ("zone", "before", "after", "en", "de"),
    [
        # Berlin springs forward at 01:00 UTC on 29 March 2026: 02:00 CET becomes 03:00 CEST.
        (
            "Europe/Berlin",
            datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
            ("29 Mar 2026, 01:30:00 CET", "29 Mar 2026, 03:30:00 CEST"),
            ("29. März 2026, 01:30:00 MEZ", "29. März 2026, 03:30:00 MESZ"),
        ),
        # Helsinki falls back at 01:00 UTC on 25 October 2026: 04:00 EEST becomes 03:00 EET.
        (
            "Europe/Helsinki",
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
            ("25 Oct 2026, 03:30:00 EEST", "25 Oct 2026, 03:30:00 EET"),
            ("25. Okt. 2026, 03:30:00 OESZ", "25. Okt. 2026, 03:30:00 OEZ"),
        ),
    ],
)
def test_pages_show_local_times_on_both_sides_of_a_daylight_saving_change(
    app_factory, zone, before, after, en, de
):
    app = app_factory(CITY_TIMEZONE=zone)
    add_user(app, ADMIN, "admin")
    client = app.test_client()
    early = apply_web(client, license_plate="DST-1")
    late = apply_web(client, license_plate="DST-2")
    applied_at(app, early, before)
    applied_at(app, late, after)

    for permit_id, english, german in ((early, en[0], de[0]), (late, en[1], de[1])):
        assert f"Applied {english}" in text(client.get(f"/applications/{permit_id}"))
        receipt = text(client.get(f"/applications/{permit_id}", headers=GERMAN))
        assert f"Beantragt {german}" in receipt

    assert login(client).status_code == 303
    history = text(client.get(f"/admin/permits/{late}"))
    assert f"{en[1]} Applied: Waiting for a decision" in history
    assert f"Times are shown in the time zone {zone}" in history
    queue = text(client.get("/admin/permits?status=all"))
    for english in en:  # the queue shows minutes: "29 Mar 2026, 01:30 CET"
        assert english.replace(":00 ", " ") in queue


def test_api_keeps_utc_whatever_the_city_zone(app_factory):
    app = app_factory(CITY_TIMEZONE="Europe/Helsinki")
    client = app.test_client()
    permit_id = apply_web(client)
    applied_at(app, permit_id, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    body = client.get(f"/permits/{permit_id}").get_json()
    assert body["created_at"] == "2026-10-25T01:30:00+00:00"


def test_deadline_on_the_receipt_is_local_with_the_zone(app_factory):
    app = app_factory(CITY_TIMEZONE="Europe/Berlin")
    client = app.test_client()
    permit_id = apply_web(client)
    with app.app_context():
        deadline = db.session.get(Permit, permit_id).expires_at
    from zoneinfo import ZoneInfo

    local = deadline.astimezone(ZoneInfo("Europe/Berlin"))
    page = text(client.get(f"/applications/{permit_id}"))
    abbreviation = local.tzname()  # CET or CEST, as the date of the test run has it
    assert local.strftime("%H:%M") in page and abbreviation in page
    assert "(in 5 minutes)" in page
