"""Times in words and redirect targets, as the pages show and use them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from permit_service.web.helpers import (
    clock_time,
    duration_words,
    full_time,
    relative_time,
    safe_next,
)

NOW = datetime(2026, 11, 23, 14, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (60, "1 minute"),
        (300, "5 minutes"),
        (7200, "2 hours"),
        (86400 * 3, "3 days"),
    ],
)
def test_duration_words(seconds, words):
    assert duration_words(seconds) == words


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(minutes=4, seconds=10), "in 4 minutes"),
        (timedelta(seconds=20), "in less than a minute"),
        (timedelta(seconds=-20), "less than a minute ago"),
        (timedelta(hours=-3), "3 hours ago"),
    ],
)
def test_relative_time(delta, words):
    assert relative_time(NOW + delta, NOW) == words


def test_clock_time_adds_the_date_only_when_not_today():
    assert clock_time(NOW + timedelta(minutes=5), NOW) == "14:05 UTC"
    assert clock_time(NOW + timedelta(days=1), NOW) == "24 Nov 2026, 14:00 UTC"
    assert full_time(NOW) == "23 Nov 2026, 14:00:30 UTC"


@pytest.mark.parametrize(
    ("target", "result"),
    [
        ("/admin/permits?status=all&page=2", "/admin/permits?status=all&page=2"),
        (None, "/fallback"),
        ("", "/fallback"),
        ("admin/permits", "/fallback"),
        ("//evil.example/", "/fallback"),
        ("/\\evil.example", "/fallback"),
        ("https://evil.example/", "/fallback"),
        ("/admin\r\nSet-Cookie: x=1", "/fallback"),
    ],
)
def test_safe_next_only_allows_paths_on_this_site(target, result):
    assert safe_next(target, "/fallback") == result
