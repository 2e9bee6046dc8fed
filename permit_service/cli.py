"""`flask permits ...` commands: thin wrappers over the permit services."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from permit_service.domain import DomainError, PermitStatus
from permit_service.services import permits as service

CLI_ACTOR = "cli"


@click.group("permits")
def permits_cli() -> None:
    """Decide and expire permits from the command line."""


@permits_cli.command("approve")
@click.argument("permit_id")
def approve(permit_id: str) -> None:
    """Approve the pending permit PERMIT_ID."""
    try:
        permit = service.approve_permit(permit_id, actor=CLI_ACTOR)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{permit.id} {service.status_of(permit).value}")


@permits_cli.command("revoke")
@click.argument("permit_id")
@click.option("--reason", default=None, help="Why the permit is revoked (kept in its history).")
def revoke(permit_id: str, reason: str | None) -> None:
    """Revoke the permit PERMIT_ID."""
    try:
        permit = service.revoke_permit(permit_id, actor=CLI_ACTOR, reason=reason)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{permit.id} {service.status_of(permit).value}")


@permits_cli.command("expire")
def expire() -> None:
    """Expire every pending permit past its deadline now; print how many."""
    click.echo(f"expired {service.expire_due_permits()} permit(s)")


@permits_cli.command("seed")
@click.option("--count", default=100_000, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--due",
    is_flag=True,
    help="Seed only pending permits whose deadline has passed (for timing the expiry sweep).",
)
@with_appcontext
def seed(count: int, due: bool) -> None:
    """Insert COUNT synthetic permits in bulk, with a progress bar (benchmarks, demos)."""
    mix = {PermitStatus.PENDING: 1.0} if due else None
    with click.progressbar(length=count, label="seeding permits") as bar:
        service.seed_permits(count, mix=mix, due=due, on_batch=bar.update)
    click.echo(f"seeded {count} permit(s)")
