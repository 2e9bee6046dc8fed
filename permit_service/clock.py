"""The service's one source of "now": every deadline, stamp and sweep reads the time here.

Tests move it (`advance`) instead of sleeping; production never shifts it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_shift = timedelta(0)


def now() -> datetime:
    """Current time, timezone-aware UTC (moved by `advance` in tests)."""
    return datetime.now(UTC) + _shift


def advance(by: timedelta | float) -> None:
    """Move the clock forward by `by` (a timedelta or seconds): for tests, instead of sleeping."""
    global _shift
    _shift += by if isinstance(by, timedelta) else timedelta(seconds=by)


def reset() -> None:
    """Back to the real time."""
    global _shift
    _shift = timedelta(0)
