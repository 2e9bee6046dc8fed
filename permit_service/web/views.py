"""The residents' pages (blueprint `web`): thin adapters over the permit services."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from permit_service.domain import OpenPermitExists, PermitNotFound, PermitStatus, ValidationFailed
from permit_service.extensions import apply_limit, limiter
from permit_service.models import Permit, utcnow
from permit_service.services import permits as service
from permit_service.web import helpers
from permit_service.web.forms import PermitApplicationForm

bp = Blueprint("web", __name__, template_folder="templates")

STATUS_WORDS = {
    PermitStatus.PENDING: "Waiting for a decision",
    PermitStatus.APPROVED: "Approved",
    PermitStatus.REVOKED: "Revoked",
    PermitStatus.EXPIRED: "Expired",
}


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    return {
        "status_words": STATUS_WORDS,
        "status_of": service.status_of,
        "clock_time": helpers.clock_time,
        "full_time": helpers.full_time,
        "relative_time": helpers.relative_time,
    }


bp.after_request(helpers.no_store)


def permit_or_404(permit_id: str) -> Permit:
    """The permit, or an HTML 404 page."""
    try:
        return service.get_permit(permit_id)
    except PermitNotFound:
        abort(404)


# --- residents --------------------------------------------------------------------------------


@bp.route("/", methods=["GET", "POST"])
@limiter.limit(apply_limit, methods=["POST"])
def index() -> ResponseReturnValue:
    """The service explained, and the application form (Post/Redirect/Get on success)."""
    form = PermitApplicationForm()
    code = 200
    if form.validate_on_submit():
        try:
            permit = service.apply_for_permit(
                name=form.name.data,
                license_plate=form.license_plate.data,
                address=form.address.data,
                email=form.email.data or None,
            )
        except OpenPermitExists as exc:
            form.license_plate.errors.append(
                f"{exc.message} Check the receipt of that application instead. If it expires or "
                "is revoked, you can apply again."
            )
            code = 409
        except ValidationFailed as exc:
            for field, messages in exc.errors.items():
                getattr(form, field).errors.extend(messages)
            code = 422
        else:
            flash("Your application was received. Keep this page's address: it is your receipt.")
            return redirect(url_for("web.application", permit_id=permit.id), 303)
    elif form.is_submitted():
        code = 422
    ttl = helpers.duration_words(current_app.config["PENDING_TTL_SECONDS"])
    return render_template("web/index.html", form=form, ttl=ttl), code


@bp.get("/applications/<permit_id>")
def application(permit_id: str) -> ResponseReturnValue:
    """The resident's receipt: status in words, the deadline while pending, what happens next."""
    permit = permit_or_404(permit_id)
    status = service.status_of(permit)
    reason = None
    if status is PermitStatus.REVOKED:
        revocations = [e for e in service.list_events(permit.id) if e.to_status == "revoked"]
        reason = revocations[-1].reason if revocations else None
    return render_template(
        "web/receipt.html",
        permit=permit,
        status=status,
        reason=reason,
        now=utcnow(),
        receipt_url=url_for("web.application", permit_id=permit.id, _external=True),
    )
