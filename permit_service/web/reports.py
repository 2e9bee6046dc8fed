"""Staff page of the monthly reports (blueprint `admin`): the list, each PDF, and (admins) a
button that makes last month's report now. Thin adapters over services.reports."""

from __future__ import annotations

from babel.dates import format_date
from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from permit_service import downloads
from permit_service.i18n import page_language
from permit_service.localtime import cldr_locale
from permit_service.months import Month
from permit_service.services import reports as service
from permit_service.web.admin import bp


def month_words(month: str) -> str:
    """'November 2026' ('November 2026', 'März 2026'): a report's month in the page's language."""
    return format_date(Month.parse(month).first_day, "LLLL y", locale=cldr_locale(page_language()))


def _readers_only() -> None:
    if current_user.role not in service.READERS:
        abort(403)


@bp.get("/reports")
@login_required
def reports() -> ResponseReturnValue:
    """Every monthly report, newest first, with its PDF; admins can make last month's now."""
    _readers_only()
    return render_template(
        "web/reports.html",
        reports=service.list_reports(),
        last_month=str(service.last_month()),
        month_words=month_words,
    )


@bp.post("/reports")
@login_required
def make_report() -> ResponseReturnValue:
    """Make (again) last month's report now, and e-mail it to the admins (administrators)."""
    _readers_only()
    if not current_user.is_admin:
        abort(403, description=_("Your account can read reports but not make them."))
    made = service.make_monthly_report()
    flash(
        _(
            "The report of %(month)s was made and e-mailed to the administrators.",
            month=month_words(made.month),
        ),
        "success",
    )
    return redirect(url_for("admin.reports"), 303)


@bp.get("/reports/<month>.pdf")
@login_required
def report_pdf(month: str) -> ResponseReturnValue:
    """One month's report as a PDF (shown in the browser; saved under its month's name)."""
    _readers_only()
    try:
        entry, pdf = service.get_report_pdf(month)
    except service.ReportNotFound:
        abort(404)
    return downloads.report_pdf(entry, pdf)
