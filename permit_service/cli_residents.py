"""`flask residents ...`: answering a resident's request for what is held about them."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup, with_appcontext

from permit_service.domain import plate_key
from permit_service.services import subject


@click.group("residents", cls=AppGroup)
@with_appcontext
def residents_cli() -> None:
    """Residents' data: what is held about a person or a car."""


@residents_cli.command("export")
@click.option("--email", help="The resident's e-mail address (any letter case).")
@click.option("--plate", help="The car's licence plate (any spelling: abc-123, ABC 123).")
def export(email: str | None, plate: str | None) -> None:
    """Print, as JSON, everything held about the holder of an e-mail address or a plate."""
    if (email is None) == (plate is None):
        raise click.UsageError("Give exactly one of --email and --plate.")
    if email is not None:
        if not email.strip():
            raise click.BadParameter("empty", param_hint="--email")
        held = subject.export_subject(email=email)
    else:
        key = plate_key(plate or "")
        if not key:
            raise click.BadParameter("no letters or digits", param_hint="--plate")
        held = subject.export_subject(plate_key=key)
    click.echo(json.dumps(held, indent=2, ensure_ascii=False))
