"""`flask notifications ...`: the outbox of e-mails to residents (wrappers over the service)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from permit_service.services import delivery as service


@click.group("notifications", cls=AppGroup)
@with_appcontext
def notifications_cli() -> None:
    """E-mails to residents: queued, sent, failed."""


@notifications_cli.command("retry-failed")
def retry_failed() -> None:
    """Queue every failed e-mail again, with a fresh MAIL_MAX_ATTEMPTS attempts."""
    count = service.retry_failed()
    seconds = current_app.config["EXPIRY_SWEEP_SECONDS"]
    click.echo(
        f"{count} failed notification{'s' if count != 1 else ''} queued again"
        + (f"; the worker sends them within {seconds} s (its next sweep)." if count else ".")
    )
