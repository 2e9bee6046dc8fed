"""`flask zones ...`: create, change and list zones (thin wrappers over services.zones)."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from permit_service.domain import DomainError, ValidationFailed
from permit_service.services import zones as service


@click.group("zones", cls=AppGroup)
@with_appcontext
def zones_cli() -> None:
    """Zones: their quotas, monthly fees and waiting lists."""


def _fail(exc: DomainError) -> click.ClickException:
    if isinstance(exc, ValidationFailed):
        lines = [f"{field}: {' '.join(map(str, msgs))}" for field, msgs in exc.errors.items()]
        return click.ClickException("; ".join(lines))
    return click.ClickException(exc.message)


def _line(view: service.ZoneView) -> str:
    zone = view.zone
    quota = "no quota" if zone.quota is None else f"quota {zone.quota}"
    state = "open" if zone.open else "closed"
    currency = current_app.config["CURRENCY"]
    return (
        f"{zone.code}\t{zone.name}\t{quota}\t{zone.monthly_fee:.2f} {currency}/month\t{state}\t"
        f"{view.valid_permits} valid\t{view.waitlist_length} waiting"
    )


def _quota(value: str | None) -> Any:
    """--quota N, or --quota none for no limit."""
    if value is None:
        return service.UNSET
    return None if value.strip().lower() in {"none", "unlimited"} else value


@zones_cli.command("create")
@click.argument("code")
@click.option("--name", required=True, help="The zone's name, as residents read it.")
@click.option("--quota", default=None, help="Most valid approved permits (omit: no limit).")
@click.option("--monthly-fee", default="0", show_default=True, help="Fee per month, e.g. 12.50.")
@click.option("--closed", is_flag=True, help="Create it closed to applications.")
def create(code: str, name: str, quota: str | None, monthly_fee: str, closed: bool) -> None:
    """Create the zone CODE (1-10 letters A-Z and digits)."""
    try:
        zone = service.create_zone(
            code,
            name,
            quota=None if quota is None else _quota(quota),
            monthly_fee=monthly_fee,
            open=not closed,
        )
        click.echo(_line(service.get_zone_view(zone.code)))
    except DomainError as exc:
        raise _fail(exc) from exc


@zones_cli.command("update")
@click.argument("code")
@click.option("--name", default=None, help="New name.")
@click.option("--quota", default=None, help="New quota (`none`: no limit).")
@click.option("--monthly-fee", default=None, help="New monthly fee (later validities).")
@click.option("--open/--closed", "open_", default=None, help="Accept applications or not.")
def update(
    code: str, name: str | None, quota: str | None, monthly_fee: str | None, open_: bool | None
) -> None:
    """Change the zone CODE; a raised quota gives its new places to the waiting list."""
    changes: dict[str, Any] = {"quota": _quota(quota)}
    if name is not None:
        changes["name"] = name
    if monthly_fee is not None:
        changes["monthly_fee"] = monthly_fee
    if open_ is not None:
        changes["open"] = open_
    try:
        zone = service.update_zone(code, **changes)
        click.echo(_line(service.get_zone_view(zone.code)))
    except DomainError as exc:
        raise _fail(exc) from exc


@zones_cli.command("list")
def list_() -> None:
    """Every zone: code, name, quota, monthly fee, open or closed, places taken, line length."""
    for view in service.list_zones():
        click.echo(_line(view))
