"""Local time in ONE module: UTC stored, CITY_TIMEZONE shown, daylight saving done by zoneinfo."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from permit_service.localtime import (
    clock_time,
    duration_words,
    end_of_local_day,
    full_time,
    relative_time,
    start_of_local_day,
    to_local,
)

NOW = datetime(2026, 11, 23, 14, 0, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
HELSINKI = ZoneInfo("Europe/Helsinki")
UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture
def ctx():
    """A request context (Babel needs one for the translated words)."""
    app = Flask(__name__)
    from flask_babel import Babel

    Babel(app)
    with app.test_request_context():
        yield


@pytest.mark.parametrize(
    ("seconds", "language", "words"),
    [
        (1, "en", "1 second"),
        (45, "en", "45 seconds"),
        (60, "en", "1 minute"),
        (300, "en", "5 minutes"),
        (300, "de", "5 Minuten"),
        (7200, "en", "2 hours"),
        (86400 * 3, "de", "3 Tage"),
    ],
)
def test_duration_words(seconds, language, words):
    assert duration_words(seconds, language=language) == words


@pytest.mark.parametrize(
    ("delta", "language", "words"),
    [
        (timedelta(minutes=4, seconds=10), "en", "in 4 minutes"),
        (timedelta(minutes=4, seconds=10), "de", "in 4 Minuten"),
        (timedelta(seconds=20), "en", "in less than a minute"),
        (timedelta(seconds=-20), "en", "less than a minute ago"),
        (timedelta(hours=-3), "en", "3 hours ago"),
        (timedelta(hours=-3), "de", "vor 3 Stunden"),
    ],
)
def test_relative_time(ctx, delta, language, words):
    assert relative_time(NOW + delta, NOW, language=language) == words


def test_clock_time_adds_the_date_only_when_not_the_local_today():
    assert clock_time(NOW + timedelta(minutes=5), NOW, language="en", zone=UTC_ZONE) == "14:05 UTC"
    later = clock_time(NOW + timedelta(days=1), NOW, language="en", zone=UTC_ZONE)
    assert later == "24 Nov 2026, 14:00 UTC"
    assert full_time(NOW, language="en", zone=UTC_ZONE) == "23 Nov 2026, 14:00:30 UTC"


def test_local_today_decides_whether_the_date_is_shown():
    # 23:30 UTC is already tomorrow in Helsinki: the date is shown there, not in UTC.
    late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert clock_time(late, NOW, language="en", zone=UTC_ZONE) == "23:30 UTC"
    assert clock_time(late, NOW, language="en", zone=HELSINKI) == "24 Nov 2026, 01:30 EET"


def test_berlin_times_on_both_sides_of_the_spring_change():
    # Clocks go forward at 01:00 UTC on 29 March 2026 (02:00 CET -> 03:00 CEST).
    before = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    after = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert full_time(before, language="en", zone=BERLIN) == "29 Mar 2026, 01:30:00 CET"
    assert full_time(after, language="en", zone=BERLIN) == "29 Mar 2026, 03:30:00 CEST"
    assert full_time(before, language="de", zone=BERLIN) == "29. März 2026, 01:30:00 MEZ"
    assert full_time(after, language="de", zone=BERLIN) == "29. März 2026, 03:30:00 MESZ"


def test_helsinki_times_on_both_sides_of_the_autumn_change():
    # Clocks go back at 01:00 UTC on 25 October 2026 (04:00 EEST -> 03:00 EET).
    before = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    after = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert full_time(before, language="en", zone=HELSINKI) == "25 Oct 2026, 03:30:00 EEST"
    assert full_time(after, language="en", zone=HELSINKI) == "25 Oct 2026, 03:30:00 EET"


def test_to_local_treats_naive_moments_as_utc():
    assert to_local(datetime(2026, 7, 1, 12, 0), BERLIN).hour == 14


@pytest.mark.parametrize(
    ("day", "zone", "utc_end"),
    [
        (date(2026, 3, 28), BERLIN, datetime(2026, 3, 28, 22, 59, 59, 999999, tzinfo=UTC)),
        (date(2026, 3, 29), BERLIN, datetime(2026, 3, 29, 21, 59, 59, 999999, tzinfo=UTC)),
        (date(2026, 10, 25), HELSINKI, datetime(2026, 10, 25, 21, 59, 59, 999999, tzinfo=UTC)),
        (date(2026, 10, 24), HELSINKI, datetime(2026, 10, 24, 20, 59, 59, 999999, tzinfo=UTC)),
        (date(2026, 6, 1), UTC_ZONE, datetime(2026, 6, 1, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_end_of_local_day_follows_daylight_saving(day, zone, utc_end):
    end = end_of_local_day(day, zone)
    assert end == utc_end
    assert end.tzinfo is UTC
    assert to_local(end, zone).date() == day
    assert to_local(end + timedelta(microseconds=1), zone).date() == day + timedelta(days=1)


def test_a_local_day_is_23_or_25_hours_long_on_change_days():
    spring = end_of_local_day(date(2026, 3, 29), BERLIN) - start_of_local_day(
        date(2026, 3, 29), BERLIN
    )
    autumn = end_of_local_day(date(2026, 10, 25), BERLIN) - start_of_local_day(
        date(2026, 10, 25), BERLIN
    )
    assert round(spring.total_seconds() / 3600) == 23
    assert round(autumn.total_seconds() / 3600) == 25


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("zone", [BERLIN, HELSINKI, UTC_ZONE])
def test_a_page_clock_says_what_the_functions_say(ctx, language, zone):
    """PageClock (the review queue's per-page formatter and its caches) gives the very words of
    clock_time and relative_time, for moments seconds to years away, both directions."""
    from permit_service.localtime import PageClock

    page = PageClock(NOW, language=language, zone=zone)
    offsets = [0, 29, -59, 61, -89, 90, 149, -3599, 3600, 5399, -86399, 86400 * 3 + 7]
    offsets += [86400 * 40, -86400 * 400, 31536000 * 2 + 5, 604800 * 3 - 1]
    for seconds in offsets + [s * 7.3 for s in offsets]:
        moment = NOW + timedelta(seconds=seconds)
        assert page.clock_time(moment) == clock_time(moment, NOW, language=language, zone=zone)
        assert page.relative_time(moment) == relative_time(moment, NOW, language=language)


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("zone", [BERLIN, HELSINKI, UTC_ZONE])
def test_a_page_clock_writes_each_minute_as_babel_does_across_days_and_dst(ctx, language, zone):
    """PageClock writes the clock itself and the words around it once per day and offset: the
    same text as babel's whole pattern, every 7 minutes over the days of both DST changes and
    of the page's own day."""
    from permit_service.localtime import PageClock

    page = PageClock(NOW, language=language, zone=zone)
    for start in (datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 10, 24, tzinfo=UTC), NOW):
        for step in range(0, 3 * 24 * 60, 7):
            moment = start - timedelta(hours=12) + timedelta(minutes=step, seconds=step % 60)
            assert page.clock_time(moment) == clock_time(moment, NOW, language=language, zone=zone)
