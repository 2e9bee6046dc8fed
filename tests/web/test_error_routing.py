"""JSON or HTML errors are decided by the blueprint that owns the route, not by a list of paths."""

from __future__ import annotations

from permit_service.errors import api_prefixes
from permit_service.hardening import api_routes_regex


def test_web_page_errors_are_html_even_for_a_client_that_prefers_json(client):
    response = client.get("/applications/not-a-reference", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_staff_page_errors_are_html_even_for_a_client_that_prefers_json(client):
    response = client.get("/admin/logout", headers={"Accept": "application/json"})
    assert response.status_code == 405
    assert response.mimetype == "text/html"


def test_api_errors_are_json_even_for_a_browser(client):
    response = client.get("/permits/not-an-id", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json()["code"] == 404


def test_unrouted_path_under_an_api_route_is_json(client):
    for path in ("/permits/a/b/c", "/auth/nothing"):
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 404, path
        assert response.mimetype == "application/json", path


def test_unknown_url_elsewhere_follows_accept(client):
    html = client.get("/no/such/page", headers={"Accept": "text/html"})
    json = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert html.mimetype == "text/html"
    assert json.mimetype == "application/json"


def test_api_paths_come_from_the_registered_api_blueprints(app):
    assert api_prefixes(app) == (
        "/auth",
        "/enforcement",
        "/exports",
        "/healthz",
        "/openapi.json",
        "/permits",
        "/readyz",
        "/reports",
        "/zones",
    )
    regex = api_routes_regex(api_prefixes(app))
    assert "/permits" in regex and "/admin" not in regex


def test_api_body_that_is_not_json_is_refused_with_415(client):
    response = client.post(
        "/permits", data="name=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.mimetype == "application/json"
