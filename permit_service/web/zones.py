"""Staff pages of the zones (blueprint `admin`): the list with places taken and waiting lists,
creating and editing a zone, and one zone's waiting list. Thin adapters over services.zones;
viewers read, only administrators change."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from permit_service.domain import ValidationFailed, ZoneCodeTaken, ZoneNotFound
from permit_service.i18n import translate
from permit_service.models import Zone
from permit_service.services import zones as service
from permit_service.web.admin import bp
from permit_service.web.forms import ZoneForm


@bp.get("/zones")
@login_required
def zones() -> ResponseReturnValue:
    """Every zone with its quota, places taken, waiting list and fee; a form to add one."""
    return _zones_page(ZoneForm(formdata=None) if current_user.is_admin else None)


@bp.post("/zones")
@login_required
def create_zone() -> ResponseReturnValue:
    """Create a zone (administrators); the form again with its messages when it cannot be."""
    _admin_only()
    form = ZoneForm()
    if not form.validate():
        return _zones_page(form, 422)
    try:
        zone = service.create_zone(
            code=form.code.data,
            name=form.name.data,
            quota=form.quota.number,
            monthly_fee=form.monthly_fee.amount,
            open=form.open.data,
        )
    except ZoneCodeTaken as exc:
        form.code.errors.append(
            _("A zone with the code %(code)s exists already. Choose another code.", code=exc.code)
        )
        return _zones_page(form, 409)
    except ValidationFailed as exc:
        _errors_on(form, exc)
        return _zones_page(form, 422)
    flash(_("Zone %(name)s (%(code)s) was created.", name=zone.name, code=zone.code), "success")
    return redirect(url_for("admin.zones"), 303)


@bp.get("/zones/<code>")
@login_required
def zone_detail(code: str) -> ResponseReturnValue:
    """One zone: its numbers, its waiting list in order and (administrators) the edit form."""
    zone = _zone_or_404(code)
    form = None
    if current_user.is_admin:
        form = ZoneForm(formdata=None, obj=zone)
        _fill(form, zone)
    return _zone_page(zone, form)


@bp.post("/zones/<code>")
@login_required
def update_zone(code: str) -> ResponseReturnValue:
    """Change a zone's name, quota, fee or whether it is open (administrators)."""
    _admin_only()
    zone = _zone_or_404(code)
    form = ZoneForm()
    del form.code  # the code names the zone: it does not change
    if not form.validate():
        return _zone_page(zone, form, 422)
    try:
        zone = service.update_zone(
            zone.code,
            name=form.name.data,
            quota=form.quota.number,
            monthly_fee=form.monthly_fee.amount,
            open=form.open.data,
        )
    except ValidationFailed as exc:
        _errors_on(form, exc)
        return _zone_page(zone, form, 422)
    flash(_("Zone %(name)s (%(code)s) was saved.", name=zone.name, code=zone.code), "success")
    return redirect(url_for("admin.zone_detail", code=zone.code), 303)


def _admin_only() -> None:
    if not current_user.is_admin:
        abort(403, description=_("Your account can look at zones but not change them."))


def _zone_or_404(code: str) -> Zone:
    try:
        return service.get_zone(code)
    except ZoneNotFound:
        abort(404)


def _fill(form: ZoneForm, zone: Zone) -> None:
    """The edit form's fields as the zone stands (the fee with its 2 decimals)."""
    form.quota.data = "" if zone.quota is None else str(zone.quota)
    form.monthly_fee.data = f"{zone.monthly_fee:.2f}"
    del form.code


def _errors_on(form: ZoneForm, exc: ValidationFailed) -> None:
    """The service's messages on the form's fields (in the page's language)."""
    for field, messages in exc.errors.items():
        target = form._fields.get(field, form.name)
        target.errors = [*target.errors, *(translate(m) for m in messages)]


def _zones_page(form: ZoneForm | None, code: int = 200) -> ResponseReturnValue:
    return render_template("web/zones.html", zones=service.list_zones(), form=form), code


def _zone_page(zone: Zone, form: ZoneForm | None, code: int = 200) -> ResponseReturnValue:
    summary = service.get_zone_view(zone.code)
    return render_template(
        "web/zone.html",
        zone=zone,
        summary=summary,
        waitlist=service.waitlist(zone.code),
        form=form,
    ), code
