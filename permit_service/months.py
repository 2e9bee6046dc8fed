"""Calendar months of the city (`YYYY-MM`): what a monthly report covers. No Flask here.

A month runs from local midnight of its 1st to local midnight of the next month's 1st in
CITY_TIMEZONE, so a month with a daylight-saving change is an hour shorter or longer in UTC
(localtime.start_of_local_day does the conversion, the one place that does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from permit_service.localtime import start_of_local_day, to_local

_SHAPE = re.compile(r"(\d{4})-(\d{2})")


class InvalidMonth(ValueError):
    """Not a month written as YYYY-MM (with a month 01-12)."""


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month; `str(month)` is `YYYY-MM`."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """`YYYY-MM` (year 2000-9999, month 01-12) as a Month, or InvalidMonth saying why."""
        match = _SHAPE.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise InvalidMonth(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2026-03.")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12 or year < 2000:
            raise InvalidMonth(f"{text!r} is not a month: YYYY-MM with a month from 01 to 12.")
        return cls(year, month)

    @classmethod
    def of(cls, moment: datetime, zone: ZoneInfo) -> Month:
        """The city's month that `moment` (aware) falls in."""
        local = to_local(moment, zone)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        """The month after this one."""
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        """The month before this one."""
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def days(self) -> list[date]:
        """Every calendar day of the month, in order."""
        first, after = self.first_day, self.next().first_day
        return [first + timedelta(days=n) for n in range((after - first).days)]

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) of the month as aware UTC moments: local midnights, DST-correct."""
        return start_of_local_day(self.first_day, zone), start_of_local_day(
            self.next().first_day, zone
        )
