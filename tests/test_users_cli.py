"""`flask users ...` end to end: accounts, tokens from the CLI used against the API."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from permit_service.extensions import db
from permit_service.models import ApiToken, User
from tests.conftest import STRONG_PASSWORD


def last_line(output: str) -> str:
    """The last non-empty line of a command's output."""
    return [line for line in output.splitlines() if line.strip()][-1].strip()


def test_create_with_role_and_list(runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Viewer@City.example",
            "--role",
            "viewer",
            "--password",
            STRONG_PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    assert "viewer@city.example" in result.output
    listing = runner.invoke(args=["users", "list"])
    assert listing.exit_code == 0
    assert listing.output.split() == ["viewer@city.example", "viewer", "active"]


def test_create_requires_a_known_role(runner):
    result = runner.invoke(
        args=["users", "create", "x@city.example", "--role", "root", "--password", STRONG_PASSWORD]
    )
    assert result.exit_code != 0
    assert "root" in result.output


def test_create_admin_prompts_twice_hidden(runner):
    result = runner.invoke(
        args=["users", "create-admin", "boss@city.example"],
        input=f"{STRONG_PASSWORD}\n{STRONG_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("Password") == 1 and "Repeat for confirmation" in result.output
    assert STRONG_PASSWORD not in result.output  # hidden input is not echoed
    assert runner.invoke(args=["users", "list"]).output.split() == [
        "boss@city.example",
        "admin",
        "active",
    ]


def test_weak_password_is_refused_with_a_clear_message(runner):
    result = runner.invoke(
        args=["users", "create-admin", "weak@city.example", "--password", "password"]
    )
    assert result.exit_code != 0
    assert "Password too short" in result.output
    assert "weak@city.example" not in runner.invoke(args=["users", "list"]).output


def test_same_email_in_another_case_is_refused(runner):
    args = ["users", "create-admin", "dup@city.example", "--password", STRONG_PASSWORD]
    assert runner.invoke(args=args).exit_code == 0
    again = runner.invoke(
        args=["users", "create-admin", "DUP@city.example", "--password", STRONG_PASSWORD]
    )
    assert again.exit_code != 0
    assert "exists already" in again.output


def test_token_from_cli_works_until_revoked(app, runner):
    runner.invoke(args=["users", "create-admin", "ops@city.example", "--password", STRONG_PASSWORD])
    issued = runner.invoke(args=["users", "create-token", "ops@city.example"])
    assert issued.exit_code == 0, issued.output
    token = last_line(issued.output)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/permits", headers=headers).status_code == 200

    revoked = runner.invoke(args=["users", "revoke-tokens", "OPS@city.example"])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked 1 token(s)" in revoked.output
    response = client.get("/permits", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_commands_for_unknown_user_fail(runner):
    for command in ("create-token", "revoke-tokens"):
        result = runner.invoke(args=["users", command, "ghost@city.example"])
        assert result.exit_code != 0
        assert "No user with the e-mail ghost@city.example" in result.output


def test_list_never_shows_hashes(runner):
    runner.invoke(args=["users", "create-admin", "a@city.example", "--password", STRONG_PASSWORD])
    output = runner.invoke(args=["users", "list"]).output
    assert "scrypt" not in output and STRONG_PASSWORD not in output


def test_passwords_and_tokens_are_stored_only_as_hashes(app, runner):
    runner.invoke(args=["users", "create-admin", "h@city.example", "--password", STRONG_PASSWORD])
    token = last_line(runner.invoke(args=["users", "create-token", "h@city.example"]).output)
    with app.app_context():
        password_hash = db.session.scalar(sa.select(User.password_hash))
        token_rows = db.session.execute(sa.select(ApiToken.__table__)).mappings().all()
    assert password_hash.startswith("scrypt:")
    assert STRONG_PASSWORD not in password_hash
    assert len(token_rows) == 1
    assert token_rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in token_rows[0].values())


def test_deactivated_user_is_locked_out_and_old_tokens_stay_dead(app, runner):
    runner.invoke(args=["users", "create-admin", "d@city.example", "--password", STRONG_PASSWORD])
    token = last_line(runner.invoke(args=["users", "create-token", "d@city.example"]).output)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    credentials = {"email": "d@city.example", "password": STRONG_PASSWORD}

    assert runner.invoke(args=["users", "deactivate", "d@city.example"]).exit_code == 0
    assert runner.invoke(args=["users", "list"]).output.split()[-1] == "inactive"
    assert client.get("/permits", headers=headers).status_code == 401
    assert client.post("/auth/token", json=credentials).status_code == 401

    assert runner.invoke(args=["users", "activate", "d@city.example"]).exit_code == 0
    assert client.get("/permits", headers=headers).status_code == 401  # old token stays dead
    fresh = client.post("/auth/token", json=credentials)
    assert fresh.status_code == 200
    new_headers = {"Authorization": f"Bearer {fresh.get_json()['access_token']}"}
    assert client.get("/permits", headers=new_headers).status_code == 200


def test_create_refuses_an_address_the_domain_rule_refuses(runner):
    result = runner.invoke(
        args=["users", "create-admin", "admin@localhost", "--password", STRONG_PASSWORD]
    )
    assert result.exit_code != 0
    assert "e-mail address is not valid" in result.output


def test_deactivate_is_one_service_call_that_ends_tokens_and_sessions(app, runner):
    from permit_service.services import sessions, users

    runner.invoke(args=["users", "create-admin", "x@city.example", "--password", STRONG_PASSWORD])
    with app.test_request_context():
        user = users.require_user("x@city.example")
        key = sessions.start_session(user)
        runner.invoke(args=["users", "create-token", "x@city.example"])
        done = users.deactivate_user("X@City.Example")
        assert (done.email, done.tokens_revoked, done.sessions_ended) == ("x@city.example", 1, 1)
        assert sessions.resume_session(key) is None
        assert users.require_user("x@city.example").active is False
