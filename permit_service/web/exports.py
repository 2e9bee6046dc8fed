"""CSV exports from the review queue (blueprint `admin`): the queue's "Export CSV" button, the
export's progress page and its download. Thin over services.exports.

Admins and viewers may export; an admin sees every export, a viewer their own (another's is a
404). The progress page refreshes itself (an HTTP `Refresh` header: no JavaScript) while a
worker writes the file.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import abort, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from permit_service import downloads, localtime
from permit_service.domain import PermitStatus
from permit_service.i18n import page_language
from permit_service.services import exports as service
from permit_service.services import zones as zone_service
from permit_service.web import words
from permit_service.web.admin import bp

REFRESH_SECONDS = 2  # the progress page reloads itself this often while the export runs


def _requester() -> service.Requester:
    """The signed-in staff member (the admin blueprint admits only the roles that read
    residents' data, domain_users.PERSONAL_DATA_ROLES: admins and viewers, who may export)."""
    return service.Requester(current_user.id, current_user.is_admin)


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw.strip()) if raw and raw.strip() else None
    except ValueError:
        return None


@bp.post("/exports")
@login_required
def create_export() -> ResponseReturnValue:
    """Export the queue's current filter (status tab, zone, dates) and show its progress."""
    requester = _requester()
    form = request.form
    raw_status = form.get("status", "all")
    status = PermitStatus(raw_status) if raw_status in set(PermitStatus) else None
    zone = form.get("zone", "").strip().upper()
    if zone and zone not in {z.code for z in zone_service.all_zones()}:
        zone = ""
    tz = localtime.city_zone()
    day_from, day_to = _day(form.get("from")), _day(form.get("to"))
    export = service.request_export(
        requester,
        status=status,
        zone=zone or None,
        created_from=localtime.start_of_local_day(day_from, tz) if day_from else None,
        # The queue's "to" day is inclusive: up to the start of the next local day.
        created_to=localtime.start_of_local_day(day_to + timedelta(days=1), tz) if day_to else None,
        language=page_language(),
    )
    return redirect(url_for("admin.export_detail", export_id=export.id), 303)


@bp.get("/exports/<export_id>")
@login_required
def export_detail(export_id: str) -> ResponseReturnValue:
    """An export's progress, rows, times, and its download link once done."""
    try:
        export = service.get_export(export_id, _requester())
    except service.ExportNotFound:
        abort(404)
    zone = None
    if export.zone_filter:
        found = {z.code: z for z in zone_service.all_zones()}.get(export.zone_filter)
        zone = words.zone_name(found) if found is not None else export.zone_filter
    tz = localtime.city_zone()
    last_day = export.created_to - timedelta(microseconds=1) if export.created_to else None
    response = make_response(
        render_template(
            "web/export.html",
            export=export,
            status_label=words.TAB_LABELS[export.status_filter or "all"],
            zone=zone,
            day_from=localtime.to_local(export.created_from, tz).date()
            if export.created_from
            else None,
            day_to=localtime.to_local(last_day, tz).date() if last_day else None,
            retention_days=service.retention_days(),
            refresh=REFRESH_SECONDS if export.status in ("queued", "running") else None,
        )
    )
    if export.status in ("queued", "running"):
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@bp.get("/exports/<export_id>/download")
@login_required
def export_download(export_id: str) -> ResponseReturnValue:
    """The finished export's CSV; back to its page (409) while it is not done."""
    try:
        export = service.ready_export(export_id, _requester())
    except service.ExportNotFound:
        abort(404)
    except service.ExportNotReady:
        abort(409, description=_("The export is not ready yet: its page shows when it is."))
    return downloads.export_csv(export)
