"""The resident's receipt, which is the permit once approved (blueprint `web`): the page, its QR
code, and what the resident holding the id may do there: renew (inside the window) and cancel
(after a confirmation step). Thin adapters over services.permits."""

from __future__ import annotations

from datetime import datetime

from flask import Response, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from permit_service import localtime, validity
from permit_service.domain import (
    ACTOR_APPLICANT,
    Action,
    ChangedMeanwhile,
    InvalidTransition,
    PermitEnded,
    PermitStatus,
    RenewalNotOpen,
    allowed_actions,
)
from permit_service.models import Permit, utcnow
from permit_service.services import permits as service
from permit_service.services import queries
from permit_service.services import zones as zone_service
from permit_service.web import qr, words
from permit_service.web.forms import ResidentActionForm
from permit_service.web.views import bp, permit_or_404

# Who acts on the residents' pages: the resident holding the receipt's id (SPEC section 3).
RESIDENT = ACTOR_APPLICANT


class Renewal:
    """Where an approved permit stands with renewal: the first local day it may be renewed."""

    def __init__(self, permit: Permit, now: datetime) -> None:
        zone = localtime.city_zone()
        days = current_app.config["RENEWAL_WINDOW_DAYS"]
        self.opens = validity.renewal_opens(permit.valid_until, zone, days)
        self.open = validity.in_renewal_window(permit.valid_until, now, zone, days)


def renewal_of(permit: Permit, status: PermitStatus, now: datetime) -> Renewal | None:
    """The renewal window of a permit that is approved (and so has a validity), else None."""
    if status is not PermitStatus.APPROVED or permit.valid_until is None:
        return None
    return Renewal(permit, now)


@bp.get("/applications/<permit_id>")
def application(permit_id: str) -> ResponseReturnValue:
    """The resident's receipt and, once approved, the permit itself (printable)."""
    return _receipt(permit_or_404(permit_id))


def _receipt(permit: Permit, problem: str | None = None, code: int = 200) -> ResponseReturnValue:
    """The receipt page; `problem` (with a 4xx `code`) says why an action did nothing."""
    now = utcnow()
    status = queries.status_of(permit, now)
    reason = None
    ending = None
    if status is PermitStatus.REVOKED:
        events = queries.list_events(permit.id)
        revocations = [e for e in events if e.to_status == PermitStatus.REVOKED.value]
        ending = words.ending(events)
        # A resident's own cancellation carries the service's fixed reason, not the office's.
        if ending in {"refused", "revoked"} and revocations:
            reason = revocations[-1].reason
    place = queries.waitlist_position(permit) if status is PermitStatus.WAITLISTED else None
    return render_template(
        "web/receipt.html",
        permit=permit,
        zone=zone_service.get_zone(permit.zone),
        place=place,
        status=status,
        ending=ending,
        reason=reason,
        now=now,
        offered=allowed_actions(status, RESIDENT),
        renewal=renewal_of(permit, status, now),
        form=ResidentActionForm(),
        problem=problem,
        receipt_url=url_for("web.application", permit_id=permit.id, _external=True),
    ), code


@bp.get("/applications/<permit_id>/qr.svg")
def application_qr(permit_id: str) -> ResponseReturnValue:
    """The permit's reference as a QR code (an SVG image), for the printed permit."""
    permit = permit_or_404(permit_id)
    title = _("QR code of the permit reference %(reference)s", reference=permit.reference)
    return Response(qr.reference_svg(permit.reference, title), mimetype="image/svg+xml")


@bp.get("/applications/<permit_id>/cancel")
def confirm_cancel(permit_id: str) -> ResponseReturnValue:
    """The confirmation step before cancelling: what ends, and a button that really does it."""
    permit = permit_or_404(permit_id)
    status = queries.status_of(permit)
    if Action.CANCEL not in allowed_actions(status, RESIDENT):
        flash(_ended_message(permit, status), "info")
        return redirect(url_for("web.application", permit_id=permit.id), 303)
    return render_template(
        "web/cancel.html",
        permit=permit,
        status=status,
        zone=zone_service.get_zone(permit.zone),
        form=ResidentActionForm(),
    )


@bp.post("/applications/<permit_id>/cancel")
def cancel(permit_id: str) -> ResponseReturnValue:
    """Cancel (withdraw an application, or give up a permit) at once; say what happened."""
    permit = permit_or_404(permit_id)
    # The CSRF token is checked by CSRFProtect before this runs (a stale form: an HTML 400).
    try:
        done = service.cancel_permit(permit.id)
    except InvalidTransition as exc:
        return _receipt(permit, _ended_message(permit, exc.current), 409)
    except ChangedMeanwhile:
        return _receipt(permit, _changed_meanwhile(), 409)
    if not done.changed:
        flash(_ended_message(done.permit, done.after), "info")
    elif done.before is PermitStatus.PENDING:
        flash(_("You withdrew your application. Nobody will decide on it now."), "success")
    elif done.before is PermitStatus.WAITLISTED:
        flash(_("You left the waiting list. Your place goes to the next in line."), "success")
    else:
        flash(
            _(
                "You cancelled your permit. The car %(plate)s no longer has a permit.",
                plate=done.permit.license_plate,
            ),
            "success",
        )
    return redirect(url_for("web.application", permit_id=permit.id), 303)


@bp.post("/applications/<permit_id>/renew")
def renew(permit_id: str) -> ResponseReturnValue:
    """Renew the permit (inside the renewal window): the validity goes on without a gap."""
    permit = permit_or_404(permit_id)
    # The CSRF token is checked by CSRFProtect before this runs (a stale form: an HTML 400).
    try:
        done = service.renew_permit(permit.id, actor=RESIDENT)
    except RenewalNotOpen as exc:
        return _receipt(permit, renewal_not_open(exc), 409)
    except PermitEnded:
        return _receipt(permit, _permit_ended(), 409)
    except InvalidTransition as exc:
        return _receipt(permit, _cannot_renew(exc.current), 409)
    except ChangedMeanwhile:
        return _receipt(permit, _changed_meanwhile(), 409)
    flash(
        _(
            "Your permit was renewed. It is now valid until %(until)s.",
            until=localtime.long_time(done.permit.valid_until),
        ),
        "success",
    )
    return redirect(url_for("web.application", permit_id=permit.id), 303)


def renewal_not_open(exc: RenewalNotOpen) -> str:
    """'Renewal opens on 3 November 2027': the window's first local day, in the page's language."""
    return _(
        "This permit cannot be renewed yet. Renewal opens on %(date)s.",
        date=localtime.day_words(exc.opens),
    )


def _permit_ended() -> str:
    return _(
        "This permit can no longer be renewed: its validity has ended. Apply again for a new "
        "permit."
    )


def _cannot_renew(current: PermitStatus) -> str:
    if current is PermitStatus.PENDING:
        return _("An application can be renewed only once it is approved.")
    return _("This permit has ended, so it cannot be renewed. Apply again for a new permit.")


def _ended_message(permit: Permit, current: PermitStatus) -> str:
    """Cancelling what has already ended: nothing to do, and the page says why."""
    if current is PermitStatus.EXPIRED and permit.valid_until is not None:
        return _("This permit has already ended: its validity ran out. There is nothing to cancel.")
    if current is PermitStatus.EXPIRED:
        return _("This application has already expired. There is nothing to withdraw.")
    return _("This application or permit has already ended. Nothing was changed.")


def _changed_meanwhile() -> str:
    return _(
        "This permit was changed at the same moment by someone else. Reload the page and try again."
    )
