"""X-Pagination is what flask-smorest's own metadata schema produces, on every page shape."""

from __future__ import annotations

import json

import pytest
from flask_smorest.pagination import PaginationMixin

from permit_service.api.blueprint import Blueprint
from tests.conftest import apply


@pytest.mark.parametrize(
    ("page", "page_size", "total"),
    [(1, 50, 0), (1, 50, 1), (1, 50, 50), (1, 50, 51), (2, 50, 51), (3, 50, 51), (9, 10, 95)],
)
def test_pagination_metadata_matches_smorest(page, page_size, total):
    ours = Blueprint._make_pagination_metadata(page, page_size, total)
    assert ours == PaginationMixin._make_pagination_metadata(page, page_size, total)


def test_listing_header_and_body_across_pages(client, admin_headers):
    for i in range(3):
        apply(client, license_plate=f"PAG-{i}")
    first = client.get("/permits?page_size=2", headers=admin_headers)
    assert first.status_code == 200
    assert json.loads(first.headers["X-Pagination"]) == {
        "total": 3,
        "total_pages": 2,
        "first_page": 1,
        "last_page": 2,
        "page": 1,
        "next_page": 2,
    }
    assert [p["license_plate"] for p in first.get_json()] == ["PAG-2", "PAG-1"]
    second = client.get("/permits?page=2&page_size=2", headers=admin_headers)
    assert [p["license_plate"] for p in second.get_json()] == ["PAG-0"]
    assert json.loads(second.headers["X-Pagination"])["previous_page"] == 1
    bad = client.get("/permits?page_size=501", headers=admin_headers)
    assert bad.status_code == 422
    unknown = client.get("/permits?status=nope", headers=admin_headers)
    assert unknown.status_code == 422
