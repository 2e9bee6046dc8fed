"""Staff pages under /admin (blueprint `admin`): sign-in, the queue, history, decisions."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import HTTPException

from permit_service import domain_users, localtime
from permit_service.domain import (
    Action,
    ChangedMeanwhile,
    InvalidTransition,
    PermitEnded,
    PermitStatus,
    RenewalNotOpen,
    ValidationFailed,
)
from permit_service.domain_users import READ_AUDIT_ROLES
from permit_service.extensions import limiter, login_limit
from permit_service.i18n import translate
from permit_service.models import Permit, utcnow
from permit_service.services import audit, queries, sessions
from permit_service.services import permits as service
from permit_service.services import zones as zone_service
from permit_service.services.users import authenticate
from permit_service.web import helpers, words
from permit_service.web.forms import ApproveForm, DecisionForm, LoginForm, RevokeForm
from permit_service.web.receipt import renewal_not_open, renewal_of
from permit_service.web.views import permit_or_404

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
bp.after_request(helpers.no_store)


PAGE_SIZE = 20
MAX_PAGE = 1_000_000  # page numbers shown stay readable whatever the query string says
SEARCH_MAX = 100


@bp.before_request
def _personal_data_roles_only() -> None:
    """Every staff page shows residents' data: a signed-in role that may not read it (SPEC's
    `enforcer`) gets 403 on all of them but signing in and out (domain_users)."""
    if request.endpoint in ("admin.login", "admin.logout"):
        return
    if current_user.is_authenticated and current_user.role not in domain_users.PERSONAL_DATA_ROLES:
        abort(403)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login() -> ResponseReturnValue:
    """Staff sign-in; a failure never tells whether the e-mail address has an account."""
    target = _page_after_login(request.args.get("next"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(target)
    form = LoginForm()
    code = 200
    failed = False
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None and user.is_enforcer:
            # The right password, but an account without pages: no session is started.
            log.info("web login refused: enforcement account", extra={"user_id": user.id})
            return render_template("web/login.html", form=form, enforcer=True), 403
        if user is not None:
            # A fresh session at sign-in: nothing planted before login survives it.
            session.clear()
            login_user(user)
            # The cookie names a server-side session, not the user: sign-out deletes it.
            session["_user_id"] = sessions.start_session(user)
            log.info("web login", extra={"user_id": user.id})
            flash(_("Signed in as %(email)s.", email=user.email), "success")
            return redirect(target, 303)
        failed = True
        code = 401
        log.info("web login failed")
    elif form.is_submitted():
        code = 422
    return render_template("web/login.html", form=form, failed=failed), code


def _page_after_login(target: str | None) -> str:
    """`next` if it is a page on this site that can be shown (GET), else the review queue."""
    default = url_for("admin.queue")
    target = helpers.safe_next(target, default)
    try:
        # A POST-only action (a decision sent with an expired session) cannot be redirected to.
        current_app.url_map.bind("localhost").match(urlsplit(target).path, method="GET")
    except HTTPException:
        return default
    return target


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out (POST with a CSRF token, so no link or image can sign anyone out).

    The server-side session is deleted, so a copy of the cookie taken earlier is worth nothing.
    """
    sessions.end_session(session.get("_user_id"))
    logout_user()
    session.clear()
    flash(_("You are signed out."), "success")
    return redirect(url_for("admin.login"), 303)


@bp.get("/")
@bp.get("", strict_slashes=False)
def admin_home() -> ResponseReturnValue:
    """The staff entry point is the review queue."""
    return redirect(url_for("admin.queue"))


@bp.get("/permits/<permit_id>")
@login_required
def permit_detail(permit_id: str) -> ResponseReturnValue:
    """One permit with its history (who changed it, when and why) and its e-mails.

    Only roles that may read residents' data see it; each view is recorded in the read audit,
    which admins see at the bottom of the page.
    """
    reader, role = current_user.id, current_user.role  # plain values: the audit commits
    audit.record_read(reader, audit.ReadKind.PAGE, permit_id)
    permit = permit_or_404(permit_id)
    events = queries.list_events(permit.id)
    now = utcnow()
    status = queries.status_of(permit, now)
    return render_template(
        "web/permit.html",
        permit=permit,
        zone=zone_service.get_zone(permit.zone),
        place=queries.waitlist_position(permit) if status is PermitStatus.WAITLISTED else None,
        status=status,
        ending=words.ending(events),
        renewal=renewal_of(permit, status, now),
        events=events,
        notifications=queries.list_notifications(permit.id),
        reads=audit.list_reads(permit.id) if role in READ_AUDIT_ROLES else None,
        now=now,
        here=url_for("admin.permit_detail", permit_id=permit.id),
        back=helpers.safe_next(request.args.get("back"), url_for("admin.queue")),
    )


@bp.post("/permits/<permit_id>/approve")
@login_required
def approve(permit_id: str) -> ResponseReturnValue:
    """Approve a permit and say what happened in a flash message."""
    return _decide(permit_id, Action.APPROVE, ApproveForm())


@bp.post("/permits/<permit_id>/renew")
@login_required
def renew(permit_id: str) -> ResponseReturnValue:
    """Renew an approved permit inside its renewal window; say until when it is now valid."""
    return _decide(permit_id, Action.RENEW, DecisionForm())


@bp.post("/permits/<permit_id>/revoke")
@login_required
def revoke(permit_id: str) -> ResponseReturnValue:
    """Revoke a permit with an optional reason and say what happened in a flash message."""
    return _decide(permit_id, Action.REVOKE, RevokeForm())


def _decide(permit_id: str, action: Action, form: DecisionForm) -> ResponseReturnValue:
    if not current_user.is_admin:
        abort(403, description=_("Your account can look at permits but not decide them."))
    permit = permit_or_404(permit_id)
    back = helpers.safe_next(form.next.data, url_for("admin.permit_detail", permit_id=permit.id))
    if not form.validate():
        _flash_not_changed(permit, form.errors)
        return redirect(back, 303)
    try:
        if action is Action.APPROVE:
            until = form.valid_until.data if isinstance(form, ApproveForm) else None
            done = service.approve_permit(
                permit.id, actor=current_user.email, valid_until=(until or "").strip() or None
            )
        elif action is Action.RENEW:
            done = service.renew_permit(permit.id, actor=current_user.email)
        else:
            text = form.reason.data if isinstance(form, RevokeForm) else None
            reason = (text or "").strip() or None
            done = service.revoke_permit(permit.id, actor=current_user.email, reason=reason)
    except ValidationFailed as exc:
        _flash_not_changed(permit, exc.errors)
    except RenewalNotOpen as exc:
        flash(
            _(
                "%(plate)s (%(name)s) was not renewed: %(why)s",
                plate=permit.license_plate,
                name=permit.name,
                why=renewal_not_open(exc),
            ),
            "error",
        )
    except PermitEnded:
        flash(
            _(
                "%(plate)s (%(name)s) cannot be renewed: its validity has ended. The resident "
                "can apply again.",
                plate=permit.license_plate,
                name=permit.name,
            ),
            "error",
        )
    except InvalidTransition as exc:
        flash(_conflict_message(permit, exc), "error")
    except ChangedMeanwhile:
        flash(
            _(
                "%(plate)s (%(name)s) was changed meanwhile; nothing was done. Try again.",
                plate=permit.license_plate,
                name=permit.name,
            ),
            "error",
        )
    else:
        flash(_done_message(done.permit, action, done.before), "success")
    return redirect(back, 303)


def _flash_not_changed(permit: Permit, errors: Mapping[str, list[Any]]) -> None:
    """One error flash per message of a form's or the service's field errors."""
    for messages in errors.values():
        for message in messages:
            flash(
                _(
                    "%(plate)s was not changed: %(message)s",
                    plate=permit.license_plate,
                    message=translate(message),
                ),
                "error",
            )


def _done_message(permit: Permit, action: Action, before: PermitStatus) -> str:
    plate, name = permit.license_plate, permit.name
    if action is Action.RENEW:
        return _(
            "Renewed %(plate)s (%(name)s): now valid until %(until)s.",
            plate=plate,
            name=name,
            until=localtime.long_time(permit.valid_until),
        )
    if action is Action.APPROVE:
        if permit.status == PermitStatus.WAITLISTED.value and before is PermitStatus.WAITLISTED:
            return _(
                "%(plate)s (%(name)s) is already on the waiting list; nothing changed.",
                plate=plate,
                name=name,
            )
        if permit.status == PermitStatus.WAITLISTED.value:
            place = queries.waitlist_position(permit)
            return _(
                "Approved %(plate)s (%(name)s), but zone %(zone)s is full: it is number "
                "%(place)s in the waiting list and gets a place by itself when one frees.",
                plate=plate,
                name=name,
                zone=zone_service.get_zone(permit.zone).name,
                place=place or "?",
            )
        if before is PermitStatus.APPROVED:
            return _(
                "%(plate)s (%(name)s) was already approved; nothing changed.",
                plate=plate,
                name=name,
            )
        return _("Approved %(plate)s (%(name)s).", plate=plate, name=name)
    if before is PermitStatus.REVOKED:
        return _(
            "%(plate)s (%(name)s) was already refused or revoked; nothing changed.",
            plate=plate,
            name=name,
        )
    if before is PermitStatus.PENDING:
        return _("Refused %(plate)s (%(name)s).", plate=plate, name=name)
    if before is PermitStatus.WAITLISTED:
        return _("Revoked %(plate)s (%(name)s): it left the waiting list.", plate=plate, name=name)
    return _("Revoked %(plate)s (%(name)s).", plate=plate, name=name)


def _conflict_message(permit: Permit, exc: InvalidTransition) -> str:
    plate, name = permit.license_plate, permit.name
    approve = exc.action is Action.APPROVE
    if exc.current is PermitStatus.EXPIRED and permit.valid_until is not None:
        return _(
            "%(plate)s (%(name)s) cannot be changed: its validity ended on %(until)s. The "
            "resident can apply again for this plate.",
            plate=plate,
            name=name,
            until=localtime.long_time(permit.valid_until),
        )
    if exc.current is PermitStatus.EXPIRED:
        if approve:
            return _(
                "%(plate)s (%(name)s) cannot be approved: its deadline passed before anyone "
                "decided, so it expired. The resident can apply again for this plate.",
                plate=plate,
                name=name,
            )
        return _(
            "%(plate)s (%(name)s) cannot be refused: its deadline passed before anyone "
            "decided, so it expired. The resident can apply again for this plate.",
            plate=plate,
            name=name,
        )
    if exc.current is PermitStatus.REVOKED and approve:
        return _(
            "%(plate)s (%(name)s) cannot be approved: it has been refused or revoked. The "
            "resident can apply again for this plate.",
            plate=plate,
            name=name,
        )
    return _(
        "%(plate)s (%(name)s) cannot be changed: its status is now “%(status)s”. Reload the "
        "page to see it.",
        plate=plate,
        name=name,
        status=words.status_word(exc.current),
    )
