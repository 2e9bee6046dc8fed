"""`flask reports monthly [--month YYYY-MM]`: make a monthly report now (services.reports)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from permit_service.db_bounds import background
from permit_service.months import InvalidMonth, Month
from permit_service.services import reports as service
from permit_service.services.report_numbers import COUNTS

# The counts as the summary line names them.
_WORDS = {
    "received": "received",
    "approved": "approved",
    "waitlisted": "waitlisted",
    "places_given": "places given",
    "refused": "refused",
    "revoked": "revoked",
    "cancelled": "cancelled by residents",
    "renewed": "renewed",
    "expired": "applications expired",
    "ended": "validities ended",
}


@click.group("reports", cls=AppGroup)
@with_appcontext
def reports_cli() -> None:
    """Monthly reports: make one now (Beat makes last month's on the 1st)."""


def _month(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Month | None:
    if value is None:
        return None
    try:
        return Month.parse(value)
    except InvalidMonth as exc:
        raise click.BadParameter(str(exc)) from None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


@reports_cli.command("monthly")
@click.option(
    "--month",
    callback=_month,
    metavar="YYYY-MM",
    help="The month to report (default: last month, in CITY_TIMEZONE).",
)
@click.option(
    "--language",
    type=click.Choice(["en", "de"]),
    default=None,
    help="The report's language (default: REPORT_LANGUAGE).",
)
@click.option("--no-mail", is_flag=True, help="Do not e-mail the admins.")
def monthly(month: Month | None, language: str | None, no_mail: bool) -> None:
    """Make the monthly report now (again, if it exists: it is replaced) and e-mail the admins."""
    try:
        with background(current_app.config["SWEEP_STATEMENT_TIMEOUT"]):
            made = service.make_monthly_report(month, language=language, notify=not no_mail)
    except service.MonthNotOver as exc:
        raise click.BadParameter(exc.message, param_hint="'--month'") from None
    numbers = made.numbers
    base = current_app.config["PUBLIC_BASE_URL"]
    click.echo(
        f"Report {made.month} ({numbers['timezone']}) made: {made.size} bytes, "
        f"{base}{service.report_url(made.month)} (API) and {base}/admin/reports"
    )
    totals = numbers["totals"]
    click.echo(", ".join(f"{totals[k]} {_WORDS[k]}" for k in COUNTS))
    timing = numbers["decision_time"]
    click.echo(
        f"time to decision over {timing['decisions']} decisions: median "
        f"{_duration(timing['median_seconds'])}, 90th percentile "
        f"{_duration(timing['p90_seconds'])}"
    )
    click.echo(
        f"e-mailed to {made.admins_told} admin{'s' if made.admins_told != 1 else ''}"
        if not no_mail
        else "no e-mail sent (--no-mail)"
    )
