"""Zones in the JSON API and the CLI (SPEC.md sections 4, 6 and 8), on each database."""

from __future__ import annotations

from permit_service.services import zones
from tests.conftest import SEED, apply


def test_anyone_lists_zones_with_their_places(client):
    response = client.get("/zones")
    assert response.status_code == 200
    assert response.get_json() == [
        {
            "code": "CITY",
            "name": "Whole city",
            "quota": None,
            "monthly_fee": "0.00",
            "currency": "EUR",
            "open": True,
            "valid_permits": 0,
            "waitlist_length": 0,
        }
    ]


def test_admins_create_and_change_zones(client, admin_headers, viewer_headers):
    body = {"code": "north", "name": "North", "quota": 1, "monthly_fee": 12.5}
    assert client.post("/zones", json=body).status_code == 401
    assert client.post("/zones", json=body, headers=viewer_headers).status_code == 403
    created = client.post("/zones", json=body, headers=admin_headers)
    assert created.status_code == 201
    assert created.headers["Location"].endswith("/zones/NORTH")
    assert created.get_json()["monthly_fee"] == "12.50"
    again = client.post("/zones", json=body, headers=admin_headers)
    assert again.status_code == 409
    assert again.get_json()["message"] == "A zone with code NORTH exists already."
    bad = client.post(
        "/zones", json={"code": "no-dash", "name": "", "quota": -1}, headers=admin_headers
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]["json"]) >= {"code", "quota"}
    changed = client.patch(
        "/zones/north",
        json={"quota": None, "monthly_fee": "3", "open": False},
        headers=admin_headers,
    )
    assert changed.status_code == 200
    assert (changed.get_json()["quota"], changed.get_json()["open"]) == (None, False)
    assert client.patch("/zones/NOPE", json={"quota": 1}, headers=admin_headers).status_code == 404
    assert (
        client.patch("/zones/NORTH", json={"colour": 1}, headers=admin_headers).status_code == 422
    )


def test_approving_beyond_the_quota_waitlists_and_the_line_is_shown(
    app, client, admin_headers, viewer_headers
):
    with app.app_context():
        zones.create_zone("NORTH", "North", quota=1, monthly_fee="10")
    first = apply(client, license_plate="NO-1", zone="NORTH")
    second = apply(client, license_plate="NO-2", zone="NORTH")
    third = apply(client, license_plate="NO-3", zone="NORTH")
    ok = client.post(f"/permits/{first['id']}/approve", headers=admin_headers).get_json()
    assert (ok["status"], ok["fee"], ok["currency"], ok["waitlist_position"]) == (
        "approved",
        "120.00",
        "EUR",
        None,
    )
    for permit, place in ((second, 1), (third, 2)):
        got = client.post(f"/permits/{permit['id']}/approve", headers=admin_headers)
        assert got.status_code == 200
        body = got.get_json()
        assert (body["status"], body["waitlist_position"], body["fee"]) == (
            "waitlisted",
            place,
            None,
        )
    # Approving again: no-op 200. Renewing: 409.
    again = client.post(f"/permits/{second['id']}/approve", headers=admin_headers)
    assert (again.status_code, again.get_json()["status"]) == (200, "waitlisted")
    assert client.post(f"/permits/{second['id']}/renew").status_code == 409
    line = client.get("/zones/north/waitlist", headers=viewer_headers)
    assert [p["id"] for p in line.get_json()] == [second["id"], third["id"]]
    assert client.get("/zones/north/waitlist").status_code == 401
    assert client.get("/zones/SOUTH/waitlist", headers=viewer_headers).status_code == 404
    north = next(z for z in client.get("/zones").get_json() if z["code"] == "NORTH")
    assert (north["valid_permits"], north["waitlist_length"]) == (1, 2)
    # The resident leaves; then the holder cancels and the place goes to the next in line.
    assert client.post(f"/permits/{second['id']}/cancel").get_json()["status"] == "revoked"
    assert client.post(f"/permits/{first['id']}/cancel").get_json()["status"] == "revoked"
    moved = client.get(f"/permits/{third['id']}").get_json()
    assert (moved["status"], moved["waitlist_position"], moved["fee"]) == (
        "approved",
        None,
        "120.00",
    )
    # Filters by zone.
    listed = client.get("/permits?zone=north", headers=viewer_headers).get_json()
    assert {p["id"] for p in listed} == {first["id"], second["id"], third["id"]}
    count = client.get("/permits/count?zone=NORTH&status=approved", headers=viewer_headers)
    assert count.get_json() == {"count": 1}
    assert client.get("/permits?zone=a-b", headers=viewer_headers).status_code == 422


def test_applying_needs_a_zone_when_several_are_open(app, client):
    assert client.post("/permits", json=SEED).status_code == 201  # only CITY: v1 clients work
    with app.app_context():
        zones.create_zone("NORTH", "North")
    missing = client.post("/permits", json={**SEED, "license_plate": "ZZ-1"})
    assert missing.status_code == 422
    assert missing.get_json()["errors"]["json"]["zone"] == ["Choose the zone of the permit."]
    unknown = client.post("/permits", json={**SEED, "license_plate": "ZZ-1", "zone": "SOUTH"})
    assert unknown.get_json()["errors"]["json"]["zone"] == ["There is no zone SOUTH."]
    ok = client.post("/permits", json={**SEED, "license_plate": "ZZ-1", "zone": "north"})
    assert (ok.status_code, ok.get_json()["zone"]) == (201, "NORTH")


def test_cli_creates_updates_and_lists_zones(app, runner):
    created = runner.invoke(
        args=["zones", "create", "north", "--name", "North", "--quota", "5", "--monthly-fee", "9.5"]
    )
    assert created.exit_code == 0, created.output
    assert created.output.startswith("NORTH\tNorth\tquota 5\t9.50 EUR/month\topen")
    taken = runner.invoke(args=["zones", "create", "NORTH", "--name", "Again"])
    assert taken.exit_code == 1 and "exists already" in taken.output
    updated = runner.invoke(args=["zones", "update", "NORTH", "--quota", "none", "--closed"])
    assert updated.exit_code == 0, updated.output
    assert "no quota" in updated.output and "closed" in updated.output
    bad = runner.invoke(args=["zones", "update", "NORTH", "--quota", "-2"])
    assert bad.exit_code == 1 and "quota" in bad.output
    listed = runner.invoke(args=["zones", "list"])
    assert [line.split("\t")[0] for line in listed.output.splitlines()] == ["CITY", "NORTH"]
