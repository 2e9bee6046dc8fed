"""Redirect targets of the pages (times in words: tests/test_localtime.py)."""

from __future__ import annotations

import pytest

from permit_service.web.helpers import safe_next


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
