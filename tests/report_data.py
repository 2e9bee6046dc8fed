"""A known month for the monthly report's tests: March 2026 in Europe/Berlin.

March 2026 starts at 2026-02-28 23:00 UTC (midnight CET) and ends at 2026-03-31 22:00 UTC
(midnight CEST): daylight saving starts on Sunday 29 March, a 23-hour day. Permits are made
through the services with the clock moved to each moment (no UPDATEs), some a few seconds on
either side of the month's edges, where a report in UTC months would count them wrongly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from permit_service import clock
from permit_service.services import permits as service
from permit_service.services.zones import create_zone

ZONE = "Europe/Berlin"
MONTH = "2026-03"
ALICE, BOB = "alice@city.example", "bob@city.example"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@contextlib.contextmanager
def at(moment: datetime) -> Iterator[None]:
    """The service's clock reads `moment` (and runs on from there) inside the block."""
    clock.advance(moment - clock.now())
    try:
        yield
    finally:
        clock.reset()


def _apply(when: datetime, plate: str, zone: str) -> str:
    with at(when):
        return service.apply_for_permit("Jörg Müller", plate, "Hauptstraße 1", zone=zone).permit.id


def _approve(pid: str, when: datetime, actor: str, valid_until: date | None = None) -> None:
    with at(when):
        service.approve_permit(pid, actor=actor, valid_until=valid_until)


def _revoke(pid: str, when: datetime, actor: str) -> None:
    with at(when):
        service.revoke_permit(pid, actor=actor, reason="test")


def make_march() -> dict[str, Any]:
    """Make the month's permits (call in an app context with CITY_TIMEZONE=Europe/Berlin);
    returns the numbers a report of March 2026 must show."""
    with at(utc(2026, 2, 1)):
        create_zone("NORTH", "Nordstadt", quota=1)
    s = timedelta(seconds=1)
    # Applied 2 s before March (local), approved 32 s later, in March: a decision of March.
    a = _apply(utc(2026, 2, 28, 22, 59, 58), "M-A1", "CITY")
    _approve(a, utc(2026, 2, 28, 23, 0, 30), ALICE)
    # Applied 2 s into March (local; still February in UTC), refused after 2 minutes.
    b = _apply(utc(2026, 2, 28, 23, 0, 2), "M-B1", "CITY")
    _revoke(b, utc(2026, 2, 28, 23, 2, 2), BOB)
    # NORTH holds one permit: C gets the place, D the waiting list; revoking C gives D the place.
    c = _apply(utc(2026, 3, 10, 9), "M-C1", "NORTH")
    _approve(c, utc(2026, 3, 10, 9, 1), ALICE)
    d = _apply(utc(2026, 3, 10, 10), "M-D1", "NORTH")
    _approve(d, utc(2026, 3, 10, 10, 3), ALICE)
    _revoke(c, utc(2026, 3, 25, 10), BOB)
    # Nobody decides E: it expires at 12:05 UTC on the 15th (no sweep needed).
    _apply(utc(2026, 3, 15, 12), "M-E1", "CITY")
    # The resident withdraws F.
    f = _apply(utc(2026, 3, 20, 8), "M-F1", "CITY")
    with at(utc(2026, 3, 20, 8) + 100 * s):
        service.cancel_permit(f)
    # G: 00:30 CET on Sunday the 29th; valid to the end of the 30th, which ends in March.
    g = _apply(utc(2026, 3, 28, 23, 30), "M-G1", "CITY")
    _approve(g, utc(2026, 3, 28, 23, 34), BOB, valid_until=date(2026, 3, 30))
    # H: 00:30 CEST on the 30th (22:30 UTC on the 29th), approved, later revoked.
    h = _apply(utc(2026, 3, 29, 22, 30), "M-H1", "CITY")
    _approve(h, utc(2026, 3, 29, 22, 34, 50), ALICE)
    _revoke(h, utc(2026, 3, 31, 10), BOB)
    # I: 2 s before April (local); its deadline passes in April.
    _apply(utc(2026, 3, 31, 21, 59, 58), "M-I1", "CITY")
    # J: 2 s into April (local; still March in UTC).
    _apply(utc(2026, 3, 31, 22, 0, 2), "M-J1", "CITY")

    per_day = dict.fromkeys(range(1, 32), 0)
    per_day.update({1: 1, 10: 2, 15: 1, 20: 1, 29: 1, 30: 1, 31: 1})
    return {
        "totals": {
            "received": 8,  # B C D E F G H I
            "approved": 4,  # A C G H
            "waitlisted": 1,  # D
            "places_given": 1,  # D, when C was revoked
            "refused": 1,  # B
            "revoked": 2,  # C H
            "cancelled": 1,  # F
            "renewed": 0,
            "expired": 1,  # E
            "ended": 1,  # G
        },
        # A 32 s, B 120, C 60, D 180, G 240, H 290
        "decision_time": {"decisions": 6, "median_seconds": 150.0, "p90_seconds": 265.0},
        "officers": {
            ALICE: {"approved": 3, "waitlisted": 1, "refused": 0, "revoked": 0, "median": 120.0},
            BOB: {"approved": 1, "waitlisted": 0, "refused": 1, "revoked": 2, "median": 180.0},
        },
        "zones": {
            "CITY": dict(received=6, approved=3, refused=1, revoked=1, expired=1, ended=1),
            "NORTH": {"received": 2, "approved": 1, "waitlisted": 1, "revoked": 1},
        },
        "per_day": per_day,
    }
