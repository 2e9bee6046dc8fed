"""Validity periods as date arithmetic: when a permit's validity ends, when renewal opens.

No Flask: the time zone and the lengths are passed in (config CITY_TIMEZONE,
PERMIT_VALIDITY_DAYS, RENEWAL_WINDOW_DAYS). A validity ends at the end of a LOCAL day
(23:59:59.999999 in the city's zone), computed by zoneinfo through localtime, so daylight saving
and New Year never shift it by an hour.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from permit_service.domain import N_, Message
from permit_service.localtime import end_of_local_day, local_today


def default_valid_until(now: datetime, tz: ZoneInfo, days: int) -> datetime:
    """End of the local day `days` after today's local date: an approval's default validity."""
    return end_of_local_day(local_today(now, tz) + timedelta(days=days), tz)


def renewed_until(old_until: datetime, tz: ZoneInfo, days: int) -> datetime:
    """A renewal's new end: the end of the local day `days` after the old end's local date.

    No gap, no overlap: the new period starts the instant after `old_until`.
    """
    return end_of_local_day(local_today(old_until, tz) + timedelta(days=days), tz)


def renewal_opens(valid_until: datetime, tz: ZoneInfo, window_days: int) -> date:
    """The first local date on which the permit may be renewed (the last `window_days` days)."""
    return local_today(valid_until, tz) - timedelta(days=window_days - 1)


def in_renewal_window(valid_until: datetime, now: datetime, tz: ZoneInfo, window_days: int) -> bool:
    """True when renewal is open at `now`: inside the window and the validity not yet ended."""
    return renewal_opens(valid_until, tz, window_days) <= local_today(now, tz) and now < valid_until


DAYS_PER_MONTH = Decimal("30.4375")  # 365.25 / 12: a default year is 12 months


def months_between(start: datetime, end: datetime, tz: ZoneInfo) -> int:
    """Months charged for a period: ceil(D / 30.4375), at least 1 (SPEC.md section 8).

    D is the number of days between the LOCAL dates of `start` and `end`, so 365 or 366 days are
    12 months, 30 days 1, 31 days 2 (a started month counts whole).
    """
    days = (local_today(end, tz) - local_today(start, tz)).days
    return max(1, math.ceil(Decimal(days) / DAYS_PER_MONTH))


def fee_for(monthly_fee: Decimal, start: datetime, end: datetime, tz: ZoneInfo) -> Decimal:
    """The fee of a period: the monthly fee times its months, to the cent."""
    months = months_between(start, end, tz)
    return (Decimal(monthly_fee) * months).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class BadValidUntil(ValueError):
    """A requested end of validity that cannot be: its message says why (a domain Message)."""


def parse_valid_until(
    value: str | date | datetime, now: datetime, tz: ZoneInfo, max_days: int
) -> datetime:
    """The end of validity an approval asks for: a date (end of that local day) or a date-time.

    A date-time needs an offset (or Z). It must be in the future and no later than the default
    validity (`max_days`); otherwise BadValidUntil.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise BadValidUntil(
                Message(
                    N_(
                        "Give the end of validity as a date (YYYY-MM-DD) or a date and time "
                        "with its offset (YYYY-MM-DDTHH:MM:SS+01:00)."
                    )
                )
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise BadValidUntil(
                Message(N_("Give the time of the end of validity with its offset (e.g. +01:00)."))
            )
        until = value.astimezone(UTC)
    else:
        until = end_of_local_day(value, tz)
    if until <= now:
        raise BadValidUntil(Message(N_("The end of validity must be in the future.")))
    latest = default_valid_until(now, tz, max_days)
    if until > latest:
        raise BadValidUntil(
            Message(
                N_("The end of validity can be at most %(days)d days ahead (until %(date)s)."),
                days=max_days,
                date=local_today(latest, tz).isoformat(),
            )
        )
    return until
