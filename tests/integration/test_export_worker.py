"""A real Celery worker writes an export the API asked for; the requester's e-mail reaches a real
SMTP server (aiosmtpd). The CSV's rows are the listing's rows for the same filter."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import apply, auth_headers
from tests.integration.processes import kill_group, start_worker_with_beat, terminate, wait_for
from tests.integration.test_celery_expiry import broker  # noqa: F401 - a fixture
from tests.smtp import smtp_server, text_of

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("backend", "broker"), [("sqlite", "embedded"), ("postgres", "redis")], indirect=["broker"]
)
def test_a_worker_writes_the_export_and_the_requester_hears_of_it(
    app_factory: Any,
    database_url: str,
    broker: dict[str, str],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in broker.items():  # the web app publishes to the worker's broker too
        monkeypatch.setenv(name, value)
    with smtp_server() as smtp:
        base = "https://permits.city.example"
        app = app_factory(PUBLIC_BASE_URL=base)
        client = app.test_client()
        admin = auth_headers(app, "admin")
        viewer = auth_headers(app, "viewer", "clerk@city.example")
        ids = [apply(client, license_plate=f"WX-{i}")["id"] for i in range(6)]
        apply(client, license_plate="WX-EQ", name='=HYPERLINK("http://evil","x")')
        for pid in ids[:3]:
            assert client.post(f"/permits/{pid}/approve", headers=admin).status_code == 200
        assert client.post(f"/permits/{ids[3]}/revoke", headers=admin).status_code == 200
        worker, log = start_worker_with_beat(
            tmp_path,
            database_url,
            broker,
            **smtp.env(),
            PUBLIC_BASE_URL=base,
            INSTANCE_PATH=app.instance_path,  # the embedded broker's folders are the web app's
            EXPIRY_SWEEP_SECONDS="2",
            CELERY_WORKER_CONCURRENCY="1",
        )
        try:
            wait_for(lambda: "ready." in log.read_text(errors="replace"), 30, "worker", log)
            for body, query in (({}, ""), ({"status": "approved"}, "&status=approved")):
                created = client.post(
                    "/exports", json=body, headers={**viewer, "Accept-Language": "de"}
                )
                assert created.status_code == 202
                location = created.headers["Location"]

                def done(location: str = location) -> dict[str, Any] | None:
                    shown = client.get(location, headers=viewer).get_json()
                    return shown if shown["status"] == "done" else None

                shown = wait_for(done, 60, "the export to be done", log)
                download = client.get(shown["download_url"], headers=viewer)
                assert download.status_code == 200 and download.mimetype == "text/csv"
                rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
                listed = client.get(f"/permits?page_size=500{query}", headers=viewer).get_json()
                assert [r["id"] for r in rows] == [p["id"] for p in listed]
                assert [r["status"] for r in rows] == [p["status"] for p in listed]
                assert shown["rows"] == len(rows)
                names = {r["license_plate"]: r["name"] for r in rows}
                if not body:
                    assert names["WX-EQ"] == '\'=HYPERLINK("http://evil","x")'
            messages = smtp.wait_for(2, 30)
            assert {m["To"] for m in messages} == {"clerk@city.example"}
            assert all("CSV-Export" in m["Subject"] for m in messages)
            assert any(f"{base}/admin/exports/" in text_of(m) for m in messages)
            terminate(worker, log)
        finally:
            kill_group(worker)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_a_formula_name_is_neutralised_in_the_workers_csv(
    app_factory: Any,
    database_url: str,
    broker: dict[str, str],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in broker.items():
        monkeypatch.setenv(name, value)
    app = app_factory()
    client = app.test_client()
    viewer = auth_headers(app, "viewer")
    apply(client, license_plate="EQ-1", name="=1+2")
    worker, log = start_worker_with_beat(
        tmp_path, database_url, broker, INSTANCE_PATH=app.instance_path
    )
    try:
        wait_for(lambda: "ready." in log.read_text(errors="replace"), 30, "worker", log)
        location = client.post("/exports", headers=viewer).headers["Location"]
        wait_for(
            lambda: client.get(location, headers=viewer).get_json()["status"] == "done",
            60,
            "the export to be done",
            log,
        )
        csv_text = client.get(f"{location}/download", headers=viewer).get_data(as_text=True)
        (row,) = csv.DictReader(io.StringIO(csv_text))
        assert row["name"] == "'=1+2"
        terminate(worker, log)
    finally:
        kill_group(worker)
