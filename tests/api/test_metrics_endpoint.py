"""GET /metrics in one process: Prometheus text, counted by endpoint, no personal data."""

from __future__ import annotations

from typing import Any

from permit_service import metrics
from tests.conftest import apply
from tests.deploy.support import sample_sum


def test_metrics_count_by_endpoint_without_ids_or_plates(client: Any) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    permit = apply(client, license_plate="MET-42", email="someone@example.org")
    for _ in range(3):
        assert client.get(f"/permits/{permit['id']}").status_code == 200
    assert client.get("/permits/not-a-permit").status_code == 404
    metrics.export_finished("done")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)

    def grew(name: str, *labels: str) -> float:
        return sample_sum(text, name, *labels) - sample_sum(before, name, *labels)

    read = ('endpoint="permits.Permit"', 'method="GET"')
    assert grew("permit_http_requests_total", *read, 'status="200"') == 3
    assert grew("permit_http_requests_total", *read, 'status="404"') == 1
    assert grew("permit_http_requests_total", 'endpoint="permits.Permits"', 'status="201"') == 1
    assert grew("permit_http_request_duration_seconds_count", 'endpoint="permits.Permit"') == 4
    assert grew("permit_cache_requests_total", 'cache="permit"', 'result="hit"') >= 1
    assert grew("permit_notifications_total", 'event="queued"') == 1
    assert grew("permit_export_jobs_total", 'status="done"') == 1
    for secret in (permit["id"], "MET", "someone@", "not-a-permit", "/permits"):
        assert secret not in text


def test_metrics_is_outside_the_openapi_document(client: Any) -> None:
    assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]
