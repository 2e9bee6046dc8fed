"""`flask permits ...` through the same services as the API."""

from __future__ import annotations

from permit_service import clock
from tests.conftest import apply


def test_cli_approve_and_revoke_with_reason(client, runner, admin_headers):
    pid = apply(client)["id"]
    result = runner.invoke(args=["permits", "approve", pid])
    assert result.exit_code == 0 and "approved" in result.output
    result = runner.invoke(args=["permits", "revoke", pid, "--reason", "sold the car"])
    assert result.exit_code == 0 and "revoked" in result.output
    events = client.get(f"/permits/{pid}/events", headers=admin_headers).get_json()
    assert events[-1]["reason"] == "sold the car"
    assert client.get(f"/permits/{pid}").get_json()["status"] == "revoked"


def test_cli_conflicts_and_unknown_ids_fail_with_a_message(client, runner):
    pid = apply(client)["id"]
    runner.invoke(args=["permits", "revoke", pid])
    result = runner.invoke(args=["permits", "approve", pid])
    assert result.exit_code == 1 and "Cannot approve a permit that is revoked" in result.output
    result = runner.invoke(args=["permits", "approve", "no-such-id"])
    assert result.exit_code == 1 and "No permit" in result.output


def test_cli_expire_prints_how_many(app_factory):
    app = app_factory(PENDING_TTL_SECONDS=1)
    client = app.test_client()
    apply(client, license_plate="EX-1")
    apply(client, license_plate="EX-2")
    clock.advance(1.1)
    result = app.test_cli_runner().invoke(args=["permits", "expire"])
    assert result.exit_code == 0 and "expired 2 permit(s)" in result.output
    again = app.test_cli_runner().invoke(args=["permits", "expire"])
    assert "expired 0 permit(s)" in again.output
