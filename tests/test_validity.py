"""Validity arithmetic without an app: local days, daylight saving and New Year, in two zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from permit_service.validity import (
    BadValidUntil,
    default_valid_until,
    in_renewal_window,
    parse_valid_until,
    renewal_opens,
    renewed_until,
)

HELSINKI = ZoneInfo("Europe/Helsinki")  # EET +2 / EEST +3; changes 2027-03-28 and 2027-10-31
NEW_YORK = ZoneInfo("America/New_York")  # EST -5 / EDT -4; changes 2027-03-14 and 2027-11-07


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "zone", "days", "expected"),
    [
        # Approved in summer time, ends in summer time a year later: 23:59:59.999999 EEST.
        (utc(2026, 4, 1, 10), HELSINKI, 365, utc(2027, 4, 1, 20, 59, 59, 999999)),
        # Approved in summer time, ends in winter time: EET, an hour later in UTC.
        (utc(2026, 6, 1, 10), HELSINKI, 200, utc(2026, 12, 18, 21, 59, 59, 999999)),
        # Ends two days after spring forward (2027-03-28): EEST again.
        (utc(2026, 10, 1, 10), HELSINKI, 180, utc(2027, 3, 30, 20, 59, 59, 999999)),
        # Ends ON the day the clocks go forward: that day has 23 hours, its end is EEST.
        (utc(2026, 10, 1, 10), HELSINKI, 178, utc(2027, 3, 28, 20, 59, 59, 999999)),
        # Ends on the day the clocks go back (2027-10-31): 25 hours, its end is EET.
        (utc(2027, 5, 1, 10), HELSINKI, 183, utc(2027, 10, 31, 21, 59, 59, 999999)),
        # 00:30 on New Year's Day in Helsinki is still 2026 in UTC: the LOCAL date counts.
        (utc(2026, 12, 31, 22, 30), HELSINKI, 1, utc(2027, 1, 2, 21, 59, 59, 999999)),
        # 19:30 on New Year's Eve in New York is already 2027 in UTC.
        (utc(2027, 1, 1, 0, 30), NEW_YORK, 365, utc(2028, 1, 1, 4, 59, 59, 999999)),
        # New York's spring forward (2027-03-14): the end of that day is EDT.
        (utc(2026, 9, 15, 16), NEW_YORK, 180, utc(2027, 3, 15, 3, 59, 59, 999999)),
        # New York's fall back (2027-11-07): EST.
        (utc(2027, 5, 11, 16), NEW_YORK, 180, utc(2027, 11, 8, 4, 59, 59, 999999)),
    ],
)
def test_validity_ends_at_the_end_of_the_local_day(now, zone, days, expected):
    assert default_valid_until(now, zone, days) == expected


@pytest.mark.parametrize(
    ("old", "zone", "expected"),
    [
        # End of 2026-12-31 in Helsinki -> end of 2027-12-31 (New Year, winter both).
        (utc(2026, 12, 31, 21, 59, 59, 999999), HELSINKI, utc(2027, 12, 31, 21, 59, 59, 999999)),
        # End of 2026-12-31 in New York (05:00 UTC on 1 January) -> end of 2027-12-31.
        (utc(2027, 1, 1, 4, 59, 59, 999999), NEW_YORK, utc(2028, 1, 1, 4, 59, 59, 999999)),
        # Winter end -> summer end (2027-03-27 + 365 days = 2028-03-26, EEST since 2028-03-26).
        (utc(2027, 3, 27, 21, 59, 59, 999999), HELSINKI, utc(2028, 3, 26, 20, 59, 59, 999999)),
    ],
)
def test_renewal_adds_whole_local_days_across_new_year_and_daylight_saving(old, zone, expected):
    assert renewed_until(old, zone, 365) == expected


@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    zone=st.sampled_from([HELSINKI, NEW_YORK, ZoneInfo("UTC"), ZoneInfo("Australia/Lord_Howe")]),
    days=st.integers(min_value=1, max_value=800),
)
def test_renewal_leaves_no_gap_and_no_overlap(day, zone, days):
    """The old validity's last instant is the end of a local day; the new one ends `days`
    local days later, at the end of that day, whatever the clocks did in between."""
    old = datetime.combine(day, time.max).replace(tzinfo=zone).astimezone(UTC)
    new = renewed_until(old, zone, days)
    local_new = new.astimezone(zone)
    assert local_new.date() == day + timedelta(days=days)
    assert local_new.time() == time.max
    assert new > old  # continuous: the renewed period starts right where the old one ended


def test_renewal_window_opens_on_the_named_local_date():
    until = utc(2027, 3, 31, 20, 59, 59, 999999)  # end of 2027-03-31 in Helsinki (EEST)
    assert renewal_opens(until, HELSINKI, 30) == date(2027, 3, 2)
    # Local midnight starting 2027-03-02 is 22:00 UTC on 1 March (EET, before spring forward).
    assert not in_renewal_window(until, utc(2027, 3, 1, 21, 59, 59), HELSINKI, 30)
    assert in_renewal_window(until, utc(2027, 3, 1, 22, 0, 0), HELSINKI, 30)
    assert in_renewal_window(until, until - timedelta(microseconds=1), HELSINKI, 30)
    assert not in_renewal_window(until, until, HELSINKI, 30)  # ended: too late


NOW = utc(2026, 6, 15, 12)


def test_a_given_date_means_the_end_of_that_local_day():
    assert parse_valid_until("2026-12-31", NOW, HELSINKI, 365) == utc(
        2026, 12, 31, 21, 59, 59, 999999
    )
    assert parse_valid_until(date(2026, 7, 1), NOW, NEW_YORK, 365) == utc(
        2026, 7, 2, 3, 59, 59, 999999
    )


def test_a_given_date_time_is_taken_as_it_is():
    assert parse_valid_until("2026-07-01T12:00:00+02:00", NOW, HELSINKI, 365) == utc(2026, 7, 1, 10)
    assert parse_valid_until("2026-07-01T12:00:00Z", NOW, HELSINKI, 365) == utc(2026, 7, 1, 12)


def test_the_longest_validity_is_the_default_one():
    latest = default_valid_until(NOW, HELSINKI, 365)
    assert parse_valid_until("2027-06-15", NOW, HELSINKI, 365) == latest
    with pytest.raises(BadValidUntil, match="at most 365 days ahead"):
        parse_valid_until("2027-06-16", NOW, HELSINKI, 365)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("2026-06-14", "in the future"),
        ("2026-06-15T11:59:59+00:00", "in the future"),
        ("2026-07-01T12:00:00", "offset"),
        ("next tuesday", "YYYY-MM-DD"),
        ("2026-02-30", "YYYY-MM-DD"),
        ("", "YYYY-MM-DD"),
    ],
)
def test_impossible_ends_of_validity_are_refused_with_a_reason(value, says):
    with pytest.raises(BadValidUntil, match=says):
        parse_valid_until(value, NOW, HELSINKI, 365)


def test_today_is_still_allowed_until_its_end():
    assert parse_valid_until("2026-06-15", NOW, HELSINKI, 365) == utc(
        2026, 6, 15, 20, 59, 59, 999999
    )
