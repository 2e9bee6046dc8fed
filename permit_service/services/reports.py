"""Monthly reports: made (by Beat on the 1st, by `flask reports monthly`, by an admin's
button), kept in the database, listed and served; admins hear of each by e-mail.

A report covers one calendar month of the city (CITY_TIMEZONE, permit_service.months) that has
ended. Its numbers come from services.report_numbers, its PDF from services.report_pdf (which
alone imports ReportLab, on first use). Making a month's report again replaces it: one upsert
on the month, so two makers at once both succeed and one row stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from babel.dates import format_date
from flask import current_app
from flask_babel import get_locale, gettext

from permit_service.domain import DomainError
from permit_service.domain_users import Role
from permit_service.extensions import db
from permit_service.localtime import city_zone, cldr_locale, long_time
from permit_service.models import Notification, Report, User, utcnow
from permit_service.months import InvalidMonth, Month
from permit_service.services.mail import StaffMail, Undeliverable
from permit_service.services.notifications import queue_staff
from permit_service.services.report_numbers import month_numbers
from permit_service.services.upsert import dialect_insert

# Who may read reports (API and pages): admins and viewers; any other role (the enforcer's) not.
READERS = frozenset({Role.ADMIN.value, Role.VIEWER.value})


class ReportNotFound(DomainError):
    """No report of that month (or it is not a month)."""


class MonthNotOver(DomainError):
    """The month has not ended yet in the city's time: its report cannot be made."""


@dataclass(frozen=True)
class MadeReport:
    """What making a report did: the month, when, its numbers, its size, admins told."""

    month: str
    created_at: datetime
    numbers: dict[str, Any]
    size: int
    admins_told: int


@dataclass(frozen=True)
class ReportEntry:
    """A listed report (no PDF bytes)."""

    month: str
    created_at: datetime
    language: str


def parse_month(text: str) -> Month:
    """A month written YYYY-MM, or InvalidMonth (a ValueError) saying how to write one."""
    return Month.parse(text)


def last_month(now: datetime | None = None) -> Month:
    """The month before the city's current one: the one Beat reports on the 1st."""
    return Month.of(now or utcnow(), city_zone()).previous()


def make_monthly_report(
    month: Month | str | None = None, *, language: str | None = None, notify: bool = True
) -> MadeReport:
    """Make (or make again) the report of `month` (default: last month) and store it.

    InvalidMonth for a malformed month, MonthNotOver for one that has not ended. `language`
    defaults to REPORT_LANGUAGE. With `notify`, every active admin is sent the PDF, queued in
    the transaction that stores it.
    """
    now = utcnow()
    zone = city_zone()
    if month is None:
        month = last_month(now)
    elif isinstance(month, str):
        month = Month.parse(month)
    language = language or current_app.config["REPORT_LANGUAGE"]
    end = month.bounds(zone)[1]
    if end > now:
        raise MonthNotOver(
            f"{month} has not ended yet: its report can be made from "
            f"{long_time(end, language='en', zone=zone)}."
        )
    numbers = month_numbers(month, zone, now)
    # The reads are done: end their transaction before the (slower) PDF, so the write below
    # starts a fresh one (SQLite cannot turn an old read snapshot into a write).
    db.session.rollback()
    from permit_service.services.report_pdf import render_report  # ReportLab: only here

    pdf = render_report(numbers, language)
    values = {
        "month": str(month),
        "created_at": now,
        "language": language,
        "numbers": numbers,
        "pdf": pdf,
    }
    insert = dialect_insert(db.session, Report)
    db.session.execute(
        insert.values(values).on_conflict_do_update(
            index_elements=["month"],
            set_={k: insert.excluded[k] for k in values if k != "month"},
        )
    )
    told = _tell_admins(str(month), language) if notify else 0
    db.session.commit()
    return MadeReport(str(month), now, numbers, len(pdf), told)


def _tell_admins(month: str, language: str) -> int:
    """Queue the 'report ready' e-mail to every active admin, in the report's language (staff
    accounts have none of their own); the caller commits."""
    admins = db.session.scalars(
        sa.select(User.email).where(User.role == Role.ADMIN.value, User.active.is_(True))
    ).all()
    for email in admins:
        queue_staff(READY_KIND, email, month, language=language)
    return len(admins)


READY_KIND = "report_ready"  # mail.STAFF_COMPOSERS names compose_ready for it


def compose_ready(note: Notification) -> StaffMail:
    """The e-mail telling an admin a month's report is ready, with its PDF attached.

    Runs in the message's language when it is sent (services.mail.compose_staff); the PDF is
    the month's report as stored then (a report made again since is the newer one).
    """
    month = str(note.subject_ref)
    try:
        entry, pdf = get_report_pdf(month)
    except ReportNotFound:
        raise Undeliverable(f"the report of {month} is gone") from None
    words = format_date(
        Month.parse(month).first_day, "LLLL y", locale=cldr_locale(get_locale().language)
    )
    return StaffMail(
        subject=gettext("Monthly report %(month)s is ready", month=words),
        paragraphs=[
            gettext(
                "The parking permits' report of %(month)s is attached (PDF): applications, "
                "decisions, time to decision, per zone and per officer, and applications per day.",
                month=words,
            ),
            gettext("Every monthly report is listed on the reports page:"),
        ],
        link=f"{current_app.config['PUBLIC_BASE_URL']}/admin/reports",
        attachment=(f"permit-report-{entry.month}.pdf", "application/pdf", pdf),
    )


def list_reports() -> list[ReportEntry]:
    """Every stored report, newest month first (without the PDFs)."""
    rows = db.session.execute(
        sa.select(Report.month, Report.created_at, Report.language).order_by(Report.month.desc())
    )
    return [ReportEntry(*row) for row in rows]


def get_report_pdf(month: str) -> tuple[ReportEntry, bytes]:
    """The report of `month` (YYYY-MM) and its PDF, or ReportNotFound."""
    try:
        key = str(Month.parse(month))
    except InvalidMonth:
        raise ReportNotFound("No report of that month.") from None
    row = db.session.execute(
        sa.select(Report.month, Report.created_at, Report.language, Report.pdf).where(
            Report.month == key
        )
    ).first()
    if row is None:
        raise ReportNotFound("No report of that month.")
    return ReportEntry(row.month, row.created_at, row.language), row.pdf


def report_url(month: str) -> str:
    """Where the API serves a month's PDF (relative to the service)."""
    return f"/reports/{month}.pdf"
