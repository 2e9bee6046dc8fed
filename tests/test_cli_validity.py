"""`flask permits approve|revoke|renew ID|REFERENCE` and `flask permits find PLATE`."""

from __future__ import annotations

from datetime import timedelta

from permit_service.models import utcnow
from tests import factories
from tests.conftest import apply


def test_cli_approves_and_revokes_by_reference_in_any_spelling(client, runner, admin_headers):
    permit = apply(client)
    ref = permit["reference"]
    result = runner.invoke(args=["permits", "approve", ref.lower().replace("-", "")])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith(f"{ref} {permit['id']} approved until ")
    again = runner.invoke(args=["permits", "approve", ref])
    assert again.exit_code == 0 and "already approved" in again.stdout
    result = runner.invoke(args=["permits", "revoke", ref, "--reason", "sold the car"])
    assert result.exit_code == 0 and result.stdout.strip() == f"{ref} {permit['id']} revoked"
    assert client.get(f"/permits/{permit['id']}").get_json()["status"] == "revoked"


def test_cli_approve_takes_a_shorter_validity_and_refuses_an_impossible_one(client, runner):
    pid = apply(client)["id"]
    bad = runner.invoke(args=["permits", "approve", pid, "--valid-until", "1999-01-01"])
    assert bad.exit_code == 1 and "must be in the future" in bad.output
    assert bad.stdout == ""  # errors go to stderr
    day = (utcnow() + timedelta(days=20)).date().isoformat()
    good = runner.invoke(args=["permits", "approve", pid, "--valid-until", day])
    assert good.exit_code == 0 and f"until {day}" in good.stdout


def test_cli_unknown_reference_is_a_clear_error(runner):
    result = runner.invoke(args=["permits", "revoke", "P-2222-22"])
    assert result.exit_code == 1
    assert "No permit with that id or reference" in result.output and "P-2222-22" in result.output


def test_cli_renews_inside_the_window_and_says_when_it_opens_otherwise(app, runner):
    with app.app_context():
        soon = factories.make_permit("approved", valid_until=utcnow() + timedelta(days=2))
        later = factories.make_permit("approved")
        soon_ref, later_ref = soon.reference, later.reference
        opens = (later.valid_until.date() - timedelta(days=29)).isoformat()
    done = runner.invoke(args=["permits", "renew", soon_ref])
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith(f"{soon_ref} ") and " approved until " in done.stdout
    refused = runner.invoke(args=["permits", "renew", later_ref])
    assert refused.exit_code == 1 and f"can be renewed from {opens}" in refused.output


def test_cli_find_lists_the_plates_permits_in_any_spelling(app, runner):
    with app.app_context():
        old = factories.make_permit("revoked", plate="FIND-1")
        new = factories.make_permit("approved", plate="FIND 1")
        refs = [new.reference, old.reference]
    result = runner.invoke(args=["permits", "find", "find1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == refs  # newest first
    assert "approved" in lines[0] and " valid " in lines[0]
    assert "revoked" in lines[1]
    missing = runner.invoke(args=["permits", "find", "NONE-9"])
    assert missing.exit_code == 1 and "No permits for the plate" in missing.output
