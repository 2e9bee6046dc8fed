"""`flask permits ...` and `flask users ...` commands: thin wrappers over the services."""

from __future__ import annotations

import logging
from datetime import datetime

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from permit_service.db_bounds import background
from permit_service.domain import DomainError, PermitStatus, ValidationFailed
from permit_service.domain_users import ROLES
from permit_service.localtime import city_zone, to_local
from permit_service.models import User, utcnow
from permit_service.services import permits as service
from permit_service.services import queries, retention, seeding, tokens, users

CLI_ACTOR = "cli"

_verbose_option = click.option(
    "--verbose", "-v", is_flag=True, help="Also log INFO lines (to stderr), as LOG_LEVEL=INFO."
)


def _quiet_logs(verbose: bool) -> None:
    """Commands print results on stdout; logs go to stderr, WARNING and up unless asked for."""
    level = "INFO" if verbose else current_app.config.get("CLI_LOG_LEVEL") or "WARNING"
    root = logging.getLogger()
    previous = root.level
    root.setLevel(level.upper())
    # Back as it was when the command ends (it matters where commands run in-process: tests).
    click.get_current_context().call_on_close(lambda: root.setLevel(previous))


# AppGroup: every command runs inside the app context, also under Flask's CliRunner in tests.
@click.group("permits", cls=AppGroup)
@_verbose_option
@with_appcontext
def permits_cli(verbose: bool) -> None:
    """Decide and expire permits from the command line."""
    _quiet_logs(verbose)


def _permit_id(id_or_reference: str) -> str:
    """The id of the permit named by its id or its reference, or a CLI error."""
    try:
        return queries.resolve_permit_id(id_or_reference)
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} ({id_or_reference.strip()!r})") from exc


def _report(done: service.Outcome, verb: str) -> None:
    """One line on stdout: reference, id, status, and the validity when there is one."""
    permit = done.permit
    line = f"{permit.reference} {permit.id} {done.after.value}"
    if done.after is PermitStatus.APPROVED and permit.valid_until is not None:
        line += f" until {_local(permit.valid_until)}"
    if done.after is PermitStatus.WAITLISTED:
        line += f" in zone {permit.zone}, place {queries.waitlist_position(permit)}"
    if not done.changed:
        line += f" (already {done.after.value}: nothing to {verb})"
    click.echo(line)


def _local(moment: datetime) -> str:
    """A moment in the city's time zone, to the minute, with its offset."""
    return to_local(moment, city_zone()).strftime("%Y-%m-%d %H:%M %Z")


@permits_cli.command("approve")
@click.argument("permit", metavar="ID|REFERENCE")
@click.option(
    "--valid-until",
    default=None,
    metavar="DATE",
    help="End of validity: YYYY-MM-DD (end of that local day) or a date-time with offset.",
)
def approve(permit: str, valid_until: str | None) -> None:
    """Approve the pending permit named by its id or reference (e.g. P-7K3M-Q9)."""
    try:
        done = service.approve_permit(_permit_id(permit), actor=CLI_ACTOR, valid_until=valid_until)
    except ValidationFailed as exc:
        raise click.ClickException(" ".join(map(str, exc.errors["valid_until"]))) from exc
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _report(done, "approve")


@permits_cli.command("revoke")
@click.argument("permit", metavar="ID|REFERENCE")
@click.option("--reason", default=None, help="Why the permit is revoked (kept in its history).")
def revoke(permit: str, reason: str | None) -> None:
    """Revoke the permit named by its id or reference."""
    try:
        done = service.revoke_permit(_permit_id(permit), actor=CLI_ACTOR, reason=reason)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _report(done, "revoke")


@permits_cli.command("renew")
@click.argument("permit", metavar="ID|REFERENCE")
def renew(permit: str) -> None:
    """Renew the approved permit named by its id or reference (inside its renewal window)."""
    try:
        done = service.renew_permit(_permit_id(permit), actor=CLI_ACTOR)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    _report(done, "renew")


@permits_cli.command("find")
@click.argument("plate")
def find(plate: str) -> None:
    """List the permits of PLATE in any spelling (abc-123, ABC 123), newest first."""
    found = queries.find_by_plate(plate)
    if not found:
        raise click.ClickException(f"No permits for the plate {plate.strip()!r}.")
    now = utcnow()
    for permit in found:
        status = queries.status_of(permit, now).value
        validity = ""
        if permit.valid_until is not None:
            validity = f"  valid {_local(permit.valid_from)} to {_local(permit.valid_until)}"
        click.echo(
            f"{permit.reference}  {permit.license_plate:<10}  {status:<8}  "
            f"applied {_local(permit.created_at)}{validity}  {permit.id}"
        )


@permits_cli.command("expire")
def expire() -> None:
    """Expire every permit that time has ended (deadline or validity) now; print how many."""
    with background(current_app.config["SWEEP_STATEMENT_TIMEOUT"]):
        count = service.expire_due_permits()
    click.echo(f"expired {count} permit(s)")


@permits_cli.command("anonymise")
@click.option("--dry-run", is_flag=True, help="Only count what would be anonymised.")
def anonymise(dry_run: bool) -> None:
    """Remove residents' data of permits that ended over RETENTION_DAYS ago (and old staff
    reads); print how many."""
    with background(current_app.config["SWEEP_STATEMENT_TIMEOUT"]):
        done = retention.count_due() if dry_run else retention.anonymise_ended()
    verb = "would anonymise" if dry_run else "anonymised"
    click.echo(
        f"{verb} {done.permits} permit(s) that ended before {_local(done.cutoff)}; "
        f"{'would delete' if dry_run else 'deleted'} {done.reads} staff read(s) of that age "
        f"and {done.exports} CSV export(s) holding such permits"
    )


@permits_cli.command("seed")
@click.option("--count", default=100_000, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--due",
    is_flag=True,
    help="Seed only pending permits whose deadline has passed (for timing the expiry sweep).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Seed even though the database already holds permits (they stay; seeded ones add up).",
)
def seed(count: int, due: bool, force: bool) -> None:
    """Insert COUNT synthetic permits in bulk (development and benchmarks, never live data)."""
    if not force and seeding.holds_permits():
        raise click.ClickException(
            "This database already holds permits: seeding is for development and benchmark "
            "databases and would mix made-up permits into them. Use an empty database, or "
            "pass --force to add them anyway."
        )
    mix = {PermitStatus.PENDING: 1.0} if due else None
    # Bulk batches may take longer than a web request may: no statement timeout here.
    with background(0), click.progressbar(length=count, label="seeding permits") as bar:
        seeding.seed_permits(count, mix=mix, due=due, on_batch=bar.update)
    click.echo(f"seeded {count} permit(s)")


# --- users ------------------------------------------------------------------------------------


# AppGroup: every command runs inside an app context, also under app.test_cli_runner().
@click.group("users", cls=AppGroup)
@_verbose_option
@with_appcontext
def users_cli(verbose: bool) -> None:
    """Manage back-office accounts and their API tokens."""
    _quiet_logs(verbose)


_password_option = click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The new user's password (asked twice, hidden, when omitted).",
)


def _create(email: str, password: str, role: str) -> None:
    """Create the account, turning a refusal (weak password, taken e-mail) into a CLI error."""
    try:
        user = users.create_user(email, password, role=role)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"created {user.role} {user.email}")


@users_cli.command("create")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLES),
    help="admin, viewer or enforcer (plate checks only).",
)
@_password_option
def create_user(email: str, role: str, password: str) -> None:
    """Create an account EMAIL with the given role."""
    _create(email, password, role)


@users_cli.command("create-admin")
@click.argument("email")
@_password_option
def create_admin(email: str, password: str) -> None:
    """Create an admin account EMAIL (shortcut for `create --role admin`)."""
    _create(email, password, "admin")


def _existing_user(email: str) -> User:
    """The user with this e-mail, or a CLI error."""
    user = users.get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No user with the e-mail {email}.")
    return user


@users_cli.command("create-token")
@click.argument("email")
def create_token(email: str) -> None:
    """Issue an API token for EMAIL; the token is the last line of the output."""
    issued = tokens.issue_token(_existing_user(email))
    click.echo(f"token for {email.strip().lower()}, valid until {issued.expires_at.isoformat()}:")
    click.echo(issued.token)


@users_cli.command("revoke-tokens")
@click.argument("email")
def revoke_tokens(email: str) -> None:
    """Revoke every API token of EMAIL and end their web sessions."""
    count = tokens.revoke_tokens(_existing_user(email))
    click.echo(f"revoked {count} token(s) of {email.strip().lower()}; web sessions ended")


@users_cli.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Disable EMAIL's account: no login; its tokens are revoked and its sessions end."""
    try:
        done = users.deactivate_user(email)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"deactivated {done.email}; revoked {done.tokens_revoked} token(s); "
        f"ended {done.sessions_ended} web session(s)"
    )


@users_cli.command("activate")
@click.argument("email")
def activate(email: str) -> None:
    """Enable EMAIL's account again (it needs a new token: old ones stay revoked)."""
    try:
        user = users.activate_user(email)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"activated {user.email}")


@users_cli.command("list")
def list_users() -> None:
    """List accounts: e-mail, role, active."""
    rows = users.list_users()
    if not rows:
        click.echo("no users yet: flask users create-admin EMAIL")
        return
    width = max(len(u.email) for u in rows)
    for user in rows:
        state = "active" if user.active else "inactive"
        click.echo(f"{user.email:<{width}}  {user.role:<8}  {state}")
