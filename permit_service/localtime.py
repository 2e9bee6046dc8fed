"""Time zones in ONE place: UTC in the database and the API, CITY_TIMEZONE for people.

Everything that turns a stored UTC moment into a local one, or a local day into UTC moments,
lives here: the pages' times (with the zone's abbreviation, CET/CEST, MEZ/MESZ), relative times
("in 4 minutes", in the page's language), and the end of a local day (for validity periods),
with daylight saving done by zoneinfo, never by adding hours.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import (
    TIMEDELTA_UNITS,
    DateTimePattern,
    format_date,
    format_datetime,
    format_timedelta,
    parse_pattern,
)

# Date patterns per page language (CLDR supplies the month names and zone abbreviations).
# English uses the British forms: 24-hour clock, day before month, "CET" rather than "+0100".
_PATTERNS = {
    "en": {
        "clock": "HH:mm z",
        "date": "d MMM y, HH:mm z",
        "full": "d MMM y, HH:mm:ss z",
        "long": "d MMMM y, HH:mm z",
        "day": "d MMMM y",
    },
    "de": {
        "clock": "HH:mm z",
        "date": "d. MMM y, HH:mm z",
        "full": "d. MMM y, HH:mm:ss z",
        "long": "d. MMMM y, HH:mm z",
        "day": "d. MMMM y",
    },
}
_CLDR_LOCALES = {"en": "en_GB", "de": "de_DE"}
# PageClock writes the clock itself: the patterns it uses must end in it.
assert all(
    p[k].endswith(" HH:mm z") or p[k] == "HH:mm z"
    for p in _PATTERNS.values()
    for k in ("clock", "date")
)


def cldr_locale(language: str) -> str:
    """The CLDR locale numbers and dates are written in for a page language ("de" -> de_DE)."""
    return _CLDR_LOCALES.get(language, _CLDR_LOCALES["en"])


def city_zone() -> ZoneInfo:
    """The configured CITY_TIMEZONE of the current app (UTC by default)."""
    from flask import current_app

    return ZoneInfo(current_app.config.get("CITY_TIMEZONE") or "UTC")


def to_local(moment: datetime, zone: ZoneInfo | None = None) -> datetime:
    """A stored (aware) moment as the city's wall-clock time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return moment.astimezone(zone or city_zone())


def local_today(now: datetime, zone: ZoneInfo | None = None) -> date:
    """The city's calendar date at `now`."""
    return to_local(now, zone).date()


def end_of_local_day(day: date, zone: ZoneInfo | None = None) -> datetime:
    """23:59:59.999999 of `day` in the city's zone, as an aware UTC datetime (DST-correct)."""
    local = datetime.combine(day, time.max).replace(tzinfo=zone or city_zone())
    return local.astimezone(UTC)


def start_of_local_day(day: date, zone: ZoneInfo | None = None) -> datetime:
    """Local midnight at the start of `day`, as an aware UTC datetime (DST-correct)."""
    local = datetime.combine(day, time.min).replace(tzinfo=zone or city_zone())
    return local.astimezone(UTC)


def _language(language: str | None) -> str:
    if language is None:
        from flask_babel import get_locale

        locale = get_locale()
        language = locale.language if locale is not None else "en"
    return language if language in _PATTERNS else "en"


def _format(moment: datetime, kind: str, language: str | None, zone: ZoneInfo | None) -> str:
    return _format_local(to_local(moment, zone), kind, _language(language))


def _format_local(local: datetime, kind: str, lang: str) -> str:
    locale, pattern, with_zone = _compiled(lang, kind)
    text = pattern.apply(local, locale)
    if with_zone:
        text = f"{text} {_zone_name(local, lang)}"
    return text


@functools.cache
def _compiled(lang: str, kind: str) -> tuple[Locale, DateTimePattern, bool]:
    """The locale and the parsed pattern of a kind of date: babel would parse both per call
    (a queue page formats some eighty moments)."""
    pattern = _PATTERNS[lang][kind]
    with_zone = pattern.endswith(" z")
    return Locale.parse(_CLDR_LOCALES[lang]), parse_pattern(pattern.removesuffix(" z")), with_zone


def _around_clock(local: datetime, kind: str, lang: str) -> tuple[str, str]:
    """The words of a kind of date around its clock ("d MMM y, " and " CET") on the day and at
    the offset of `local` (PageClock's patterns all end in "HH:mm z", checked below)."""
    locale = _compiled(lang, kind)[0]
    return _date_part(lang, kind).apply(local, locale), f" {_zone_name(local, lang)}"


@functools.cache
def _date_part(lang: str, kind: str) -> DateTimePattern:
    """The parsed pattern of a kind of date before its clock ("d MMM y, ")."""
    return parse_pattern(_PATTERNS[lang][kind].removesuffix(" z").removesuffix("HH:mm"))


_ZONE_NAMES: dict[tuple[Any, ...], str] = {}


def _zone_name(local: datetime, lang: str) -> str:
    """'CET', 'CEST', 'UTC' ('MEZ' in German): a zone's short name depends only on the zone,
    its offset and DST at the moment, so it is looked up once per such combination."""
    key = (local.tzinfo, local.utcoffset(), local.dst(), lang)
    name = _ZONE_NAMES.get(key)
    if name is None:
        if len(_ZONE_NAMES) > 1024:
            _ZONE_NAMES.clear()
        name = _ZONE_NAMES[key] = format_datetime(local, "z", locale=_CLDR_LOCALES[lang])
    return name


def clock_time(
    moment: datetime,
    now: datetime | None = None,
    *,
    language: str | None = None,
    zone: ZoneInfo | None = None,
) -> str:
    """'14:05 CET' when the moment is on the city's today, else '24 Nov 2026, 14:05 CET'."""
    now = now or datetime.now(UTC)
    same_day = local_today(moment, zone) == local_today(now, zone)
    return _format(moment, "clock" if same_day else "date", language, zone)


class PageClock:
    """clock_time and relative_time for one page: its language, the city's zone and today are
    looked up once, not per moment (a queue page formats some eighty)."""

    def __init__(self, now: datetime, language: str | None = None, zone: ZoneInfo | None = None):
        self.now = now
        self.lang = _language(language)
        self.zone = zone or city_zone()
        self.today = local_today(now, self.zone)
        self._relative: dict[tuple[bool, str, int], str] = {}
        self._around: dict[tuple[date, Any, Any], tuple[str, str]] = {}

    def clock_time(self, moment: datetime) -> str:
        """As `clock_time(moment, now)`.

        The patterns end in the clock, "HH:mm z": babel writes the words before the clock once
        per local day, and the zone's name once per offset and DST; only hours and minutes are
        per moment (the same two-digit numbers babel's HH and mm write)."""
        local = to_local(moment, self.zone)
        day = local.date()
        key = (day, local.utcoffset(), local.dst())  # the zone's name may differ by DST alone
        around = self._around.get(key)
        if around is None:
            kind = "clock" if day == self.today else "date"
            around = self._around[key] = _around_clock(local, kind, self.lang)
        before, after = around
        return f"{before}{local.hour:02d}:{local.minute:02d}{after}"

    def relative_time(self, moment: datetime) -> str:
        """As `relative_time(moment, now)`, from a per-page cache.

        babel's words depend only on the direction, the unit it picks and the rounded number
        of units (format_timedelta with threshold 1): the key repeats that choice, the text on
        a miss is babel's own.
        """
        delta = moment - self.now
        if abs(delta.total_seconds()) < 60:
            return relative_time(moment, self.now, language=self.lang)
        seconds = int(delta.days * 86400 + delta.seconds)
        key: tuple[bool, str, int] = (seconds >= 0, "second", abs(seconds))
        for unit, per_unit in TIMEDELTA_UNITS:
            value = abs(seconds) / per_unit
            if value >= 1:
                key = (seconds >= 0, unit, int(round(value)))
                break
        text = self._relative.get(key)
        if text is None:
            text = self._relative[key] = relative_time(moment, self.now, language=self.lang)
        return text


def full_time(
    moment: datetime, *, language: str | None = None, zone: ZoneInfo | None = None
) -> str:
    """'23 Nov 2026, 14:05:09 CET': exact, for histories."""
    return _format(moment, "full", language, zone)


def long_time(
    moment: datetime, *, language: str | None = None, zone: ZoneInfo | None = None
) -> str:
    """'3 December 2027, 23:59 CET': a validity's start or end, printed on the permit."""
    return _format(moment, "long", language, zone)


def day_words(day: date, *, language: str | None = None) -> str:
    """A calendar date in words, '3 December 2027' ('3. Dezember 2027'): no time, no zone."""
    lang = _language(language)
    return format_date(day, _PATTERNS[lang]["day"], locale=_CLDR_LOCALES[lang])


def duration_words(seconds: float, *, language: str | None = None) -> str:
    """A duration as people say it: '5 minutes', '1 hour' ('5 Minuten' in German)."""
    lang = _language(language)
    return format_timedelta(
        timedelta(seconds=max(0, round(seconds))), threshold=1, locale=_CLDR_LOCALES[lang]
    )


def relative_time(
    moment: datetime, now: datetime | None = None, *, language: str | None = None
) -> str:
    """'in 4 minutes', '3 hours ago', 'in less than a minute' relative to now, translated."""
    from flask_babel import force_locale, gettext

    lang = _language(language)
    delta = moment - (now or datetime.now(UTC))
    seconds = delta.total_seconds()
    if abs(seconds) < 60:
        with force_locale(lang):
            if seconds >= 0:
                return gettext("in less than a minute")
            return gettext("less than a minute ago")
    return format_timedelta(
        delta, threshold=1, add_direction=True, format="long", locale=_CLDR_LOCALES[lang]
    )


def parse_moment(text: str, zone: ZoneInfo | None = None) -> datetime:
    """A filter's bound: an ISO 8601 date (local midnight at its start) or a date-time with its
    offset (or Z), as an aware UTC datetime. ValueError when it is neither."""
    text = text.strip()
    try:
        if len(text) == 10:
            return start_of_local_day(date.fromisoformat(text), zone)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError  # no offset: which moment is meant is unknown
        return moment.astimezone(UTC)
    except OverflowError:  # a moment at the edge of year 1 or 9999 in UTC
        raise ValueError from None
