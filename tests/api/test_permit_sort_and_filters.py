"""GET /permits and /permits/count: sort orders, zone and date filters (SPEC.md section 4).

Every order and filter is checked against the same permits sorted and filtered in Python, on
both databases; the count is compared with the listing's total over random filter combinations.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permit_service import clock, localtime
from permit_service.domain import PermitStatus, plate_key
from permit_service.extensions import db
from permit_service.models import Permit, utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from permit_service.services import zones as zone_service
from tests import factories
from tests.conftest import auth_headers

TTL = 7 * 86400  # pending applications made days ago are still pending
CYCLE = ["pending", "approved", "revoked", "expired", "pending", "approved", "due"]


@pytest.fixture
def listing(app_factory):
    """26 permits over five days in every status, in two zones, some sharing addresses."""
    app = app_factory(PENDING_TTL_SECONDS=TTL)
    with app.app_context():
        zone_service.create_zone("NORTH", "North", quota=1)
        clock.advance(timedelta(days=-5))
        try:
            for n in range(4):  # North: one place, so the second approval waits
                clock.advance(timedelta(hours=2))
                pid = service.apply_for_permit(
                    f"North {n}", f"NO-{n}", f"{n % 2} North Rd", zone="NORTH"
                ).permit.id
                if n < 3:
                    service.approve_permit(pid, actor="admin@city.example")
            zone_service.update_zone("NORTH", open=False)
            for n in range(22):
                clock.advance(timedelta(hours=5))
                state = CYCLE[n % len(CYCLE)]
                factories.make_permit(
                    "pending" if state == "due" else state,
                    due=state == "due",
                    plate=f"LS-{(n * 7) % 22:02d}",
                    name=f"Lister {n:02d}",
                    address=f"{n % 3} Elm St",
                    valid_until=(utcnow() + timedelta(days=10 + n % 4)) if n % 2 else None,
                )
        finally:
            clock.reset()
    return app, auth_headers(app, "viewer", "viewer@city.example")


def _aware(moment):
    if isinstance(moment, str) or moment is None or moment.tzinfo:
        return moment
    return moment.replace(tzinfo=UTC)


def _sorted(rows, sort):
    name, descending = queries.SORTS[sort]
    with_value = [p for p in rows if getattr(p, name) is not None]
    without = [p for p in rows if getattr(p, name) is None]
    with_value.sort(key=lambda p: (_aware(getattr(p, name)), p.id), reverse=descending)
    without.sort(key=lambda p: p.id, reverse=descending)
    return with_value + without


def _by_hand(status=None, zone=None, created_from=None, created_to=None, license_plate=None):
    rows = db.session.query(Permit).all()
    now = utcnow()
    if status is not None:
        rows = [p for p in rows if queries.status_of(p, now) is PermitStatus(status)]
    if zone:
        rows = [p for p in rows if p.zone == zone.upper()]
    if created_from:
        start = localtime.parse_moment(created_from)
        rows = [p for p in rows if _aware(p.created_at) >= start]
    if created_to:
        end = localtime.parse_moment(created_to)
        rows = [p for p in rows if _aware(p.created_at) < end]
    if license_plate:
        rows = [p for p in rows if p.plate_key == plate_key(license_plate)]
    return rows


def _all_pages(client, headers, **query):
    ids, page = [], 1
    while True:
        response = client.get(
            "/permits", query_string={**query, "page": page, "page_size": 4}, headers=headers
        )
        assert response.status_code == 200, response.get_json()
        ids += [p["id"] for p in response.get_json()]
        total = json.loads(response.headers["X-Pagination"])["total"]
        if page * 4 >= total:
            return ids, total
        page += 1


@pytest.mark.parametrize("sort", list(queries.API_SORTS))
@pytest.mark.parametrize("status", [None, "pending", "approved", "expired"])
def test_every_sort_order_matches_the_permits_sorted_by_hand(listing, sort, status):
    app, headers = listing
    client = app.test_client()
    query = {"sort": sort, **({"status": status} if status else {})}
    got, total = _all_pages(client, headers, **query)
    with app.app_context():
        expected = [p.id for p in _sorted(_by_hand(status), sort)]
    assert got == expected
    assert total == len(expected)


def test_pending_soonest_deadline_first(listing):
    app, headers = listing
    body = (
        app.test_client().get("/permits?status=pending&sort=expires_at", headers=headers).get_json()
    )
    deadlines = [p["expires_at"] for p in body]
    assert len(deadlines) >= 3 and deadlines == sorted(deadlines)


def test_decided_permits_without_a_deadline_come_last(listing):
    app, headers = listing
    body = app.test_client().get("/permits?sort=expires_at&page_size=500", headers=headers)
    deadlines = [p["expires_at"] for p in body.get_json()]
    first_null = deadlines.index(None)
    assert all(d is not None for d in deadlines[:first_null])
    assert all(d is None for d in deadlines[first_null:])


def test_date_filters_take_local_days_and_moments_with_offsets(app_factory):
    app = app_factory(CITY_TIMEZONE="Europe/Berlin")
    headers = auth_headers(app, "viewer")
    client = app.test_client()
    with app.app_context():
        clock.advance(timedelta(days=-1))
        try:
            # 23:30 UTC yesterday is 00:30 today in Berlin (winter, +01:00)
            moment = utcnow().replace(hour=23, minute=30, second=0, microsecond=0)
            clock.advance(moment - utcnow())
            late = factories.make_permit("approved", plate="DT-1")
        finally:
            clock.reset()
        berlin_day = localtime.to_local(late.created_at).date().isoformat()
        utc_day = late.created_at.date().isoformat()
    assert berlin_day != utc_day

    def ids(**query):
        response = client.get("/permits", query_string=query, headers=headers)
        count = client.get("/permits/count", query_string=query, headers=headers)
        assert response.status_code == count.status_code == 200, response.get_json()
        assert count.get_json()["count"] == len(response.get_json())
        return [p["id"] for p in response.get_json()]

    assert ids(created_from=berlin_day) == [late.id]  # local midnight, Berlin
    assert ids(created_to=berlin_day) == []
    stamp = late.created_at.isoformat()
    assert ids(created_from=stamp) == [late.id]  # inclusive
    assert ids(created_to=stamp) == []  # exclusive
    later = (late.created_at + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    assert ids(created_to=later) == [late.id]


@pytest.mark.parametrize(
    "query",
    [
        "sort=name",
        "sort=",
        "sort=-expires_at",
        "created_from=yesterday",
        "created_from=2026-12-01T10:00:00",  # no offset
        "created_to=2026-13-01",
        "created_to=" + "9" * 80,
        "created_from=0001-01-01T00:00:00+14:00",
    ],
)
def test_bad_sort_and_dates_are_422(client, admin_headers, query):
    response = client.get(f"/permits?{query}", headers=admin_headers)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["code"] == 422


def test_count_takes_no_sort_or_pagination(client, admin_headers):
    for query in ["sort=expires_at", "page=1", "page_size=5"]:
        response = client.get(f"/permits/count?{query}", headers=admin_headers)
        assert response.status_code == 422, query


def test_zone_filter_any_case(listing):
    app, headers = listing
    client = app.test_client()
    north = client.get("/permits?zone=north", headers=headers).get_json()
    assert len(north) == 4 and {p["zone"] for p in north} == {"NORTH"}
    waiting = client.get("/permits/count?zone=NORTH&status=waitlisted", headers=headers)
    assert waiting.get_json() == {"count": 2}  # one place: the 2nd and 3rd approvals wait


# Bounds relative to the data: local days and moments in hours, from now.
MOMENTS = st.sampled_from(
    [None, ("days", -4), ("days", -2), ("days", -1), ("days", 1), ("hours", -30), ("hours", -7)]
)


def _moment(token, today):
    if token is None:
        return None
    unit, n = token
    if unit == "days":
        return (today + timedelta(days=n)).isoformat()
    return (utcnow() + timedelta(hours=n)).replace(microsecond=0).isoformat()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    status=st.sampled_from([None, *[s.value for s in PermitStatus]]),
    zone=st.sampled_from([None, "CITY", "north"]),
    start=MOMENTS,
    end=MOMENTS,
    plate=st.sampled_from([None, "LS-07", "no 1", "ZZ-99"]),
)
def test_count_equals_the_listing_total_for_any_filters(listing, status, zone, start, end, plate):
    app, headers = listing
    client = app.test_client()
    with app.app_context():
        today = localtime.local_today(utcnow())
        query = {
            "status": status,
            "zone": zone,
            "created_from": _moment(start, today),
            "created_to": _moment(end, today),
            "license_plate": plate,
        }
        query = {k: v for k, v in query.items() if v is not None}
        expected = {p.id for p in _by_hand(**query)}
    count = client.get("/permits/count", query_string=query, headers=headers)
    assert count.status_code == 200, count.get_json()
    ids, total = _all_pages(client, headers, **query)
    assert count.get_json()["count"] == total == len(ids) == len(expected)
    assert set(ids) == expected
    # A full first page takes its total from the count, not from the page.
    first = client.get("/permits", query_string={**query, "page_size": 1}, headers=headers)
    assert json.loads(first.headers["X-Pagination"])["total"] == len(expected)
