"""The residents' pages (blueprint `web`): thin adapters over the permit services."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from permit_service import localtime
from permit_service.domain import (
    ChangedMeanwhile,
    OpenPermitExists,
    PermitNotFound,
    ValidationFailed,
    allowed_actions,
)
from permit_service.extensions import apply_limit, limiter
from permit_service.i18n import (
    LANGUAGE_COOKIE,
    LANGUAGE_COOKIE_MAX_AGE,
    LANGUAGES,
    page_language,
    translate,
)
from permit_service.models import Permit
from permit_service.services import permits as service
from permit_service.services import queries
from permit_service.services import zones as zone_service
from permit_service.web import helpers, words
from permit_service.web.forms import PermitApplicationForm

bp = Blueprint("web", __name__, template_folder="templates")


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    return {
        "status_word": words.status_word,
        "badge_class": words.badge_class,
        "event_words": words.event_words,
        "actor_words": words.actor_words,
        "reason_words": words.reason_words,
        "read_words": words.read_words,
        "notification_words": words.notification_words,
        "delivery_words": words.delivery_words,
        "status_of": queries.status_of,
        "allowed_actions": allowed_actions,
        "clock_time": localtime.clock_time,
        "full_time": localtime.full_time,
        "long_time": localtime.long_time,
        "day_words": localtime.day_words,
        "relative_time": localtime.relative_time,
        "city_zone_name": lambda: current_app.config.get("CITY_TIMEZONE") or "UTC",
        "validity_days": lambda: current_app.config["PERMIT_VALIDITY_DAYS"],
        "money": words.money,
        "zone_name": words.zone_name,
        "currency": words.currency,
    }


bp.after_request(helpers.no_store)


def permit_or_404(permit_id: str) -> Permit:
    """The permit, or an HTML 404 page."""
    try:
        return queries.get_permit(permit_id)
    except PermitNotFound:
        abort(404)


# --- residents --------------------------------------------------------------------------------


@bp.route("/", methods=["GET", "POST"])
@limiter.limit(apply_limit, methods=["POST"])
def index() -> ResponseReturnValue:
    """The service explained, and the application form (Post/Redirect/Get on success)."""
    zones = [view for view in zone_service.list_zones() if view.zone.open]
    form = PermitApplicationForm()
    form.zone.choices = [("", _("Choose a zone"))] + [
        (v.zone.code, words.zone_choice(words.zone_name(v.zone), v.zone.monthly_fee)) for v in zones
    ]
    code = 200
    if form.validate_on_submit():
        try:
            permit = service.apply_for_permit(
                name=form.name.data,
                license_plate=form.license_plate.data,
                address=form.address.data,
                email=form.email.data or None,
                zone=form.zone.data or None,
                language=page_language(),  # the resident's e-mails speak the page's language
            ).permit
        except OpenPermitExists as exc:
            form.license_plate.errors.append(
                _(
                    "Licence plate %(plate)s already has an open (pending, approved or "
                    "waitlisted) permit. Check the receipt of that application instead. If it "
                    "expires, is refused or is revoked, you can apply again.",
                    plate=exc.plate,
                )
            )
            code = 409
        except ChangedMeanwhile as exc:
            form.license_plate.errors.append(translate(exc.message))
            code = 409
        except ValidationFailed as exc:
            for field, messages in exc.errors.items():
                # Errors of the zone (or of nothing the form has) show on the zone field.
                target = form._fields.get(field, form.zone)
                target.errors.extend(translate(m) for m in messages)
            code = 422
        else:
            flash(_("Your application was received. Keep this page's address: it is your receipt."))
            return redirect(url_for("web.application", permit_id=permit.id), 303)
    elif form.is_submitted():
        code = 422
    ttl = localtime.duration_words(current_app.config["PENDING_TTL_SECONDS"])
    return render_template(
        "web/index.html",
        form=form,
        ttl=ttl,
        contact=current_app.config.get("CONTACT_EMAIL"),
        zones=zones,
        # One open zone: applications go there and the form asks nothing. A zone the form sent
        # that the service refused (closed meanwhile) is shown with its message, to choose again.
        choose_zone=len(zones) > 1 or bool(form.zone.errors),
    ), code


@bp.get("/language")
def set_language() -> ResponseReturnValue:
    """The language switch: remember the chosen language in a cookie, go back to the page."""
    values = request.args
    target = helpers.safe_next(values.get("next"), url_for("web.index"))
    response = redirect(target, 303)
    chosen = values.get("lang")
    if chosen in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=LANGUAGE_COOKIE_MAX_AGE,
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            httponly=True,
            samesite="Lax",
        )
    return response
