"""Flask-WTF forms of the web pages. They check input shape with the domain's own rules."""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, Field, HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from permit_service.domain import (
    ADDRESS_MAX,
    NAME_MAX,
    clean_reason,
    clean_text,
    has_control_chars,
    normalize_email,
    normalize_plate,
)
from permit_service.i18n import translate


def domain_rule(check: Callable[[str], str]) -> Callable[[FlaskForm, Field], None]:
    """A WTForms validator that runs a domain check and shows its message on the field."""

    def validator(_form: FlaskForm, field: Field) -> None:
        try:
            check(field.data or "")
        except ValueError as exc:
            raise ValidationError(translate(exc.args[0])) from None

    return validator


def single_line(_form: FlaskForm, field: Field) -> None:
    """Refuse control characters (line breaks, NUL...) that have no place in a one-line field."""
    if field.data and has_control_chars(field.data):
        raise ValidationError(
            _l("Use one line of plain text, without line breaks or control codes.")
        )


class PermitApplicationForm(FlaskForm):
    """A resident's application: name, plate, address and an optional e-mail address."""

    name = StringField(
        _l("Full name"),
        validators=[
            InputRequired(_l("Enter your full name.")),
            domain_rule(lambda v: clean_text(v, "name", NAME_MAX)),
        ],
        render_kw={"autocomplete": "name"},
    )
    license_plate = StringField(
        _l("Licence plate"),
        validators=[InputRequired(_l("Enter the licence plate.")), domain_rule(normalize_plate)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
    address = StringField(
        _l("Address in the permit zone"),
        validators=[
            InputRequired(_l("Enter the address the permit is for.")),
            domain_rule(lambda v: clean_text(v, "address", ADDRESS_MAX)),
        ],
        render_kw={"autocomplete": "street-address"},
    )
    email = EmailField(
        _l("E-mail address (optional)"),
        validators=[Optional(), domain_rule(normalize_email)],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


class LoginForm(FlaskForm):
    """Staff sign-in with e-mail and password."""

    email = EmailField(
        _l("E-mail address"),
        validators=[InputRequired(_l("Enter your e-mail address.")), Length(max=254), single_line],
        render_kw={"autocomplete": "username", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(_l("Enter your password.")), Length(max=1024), single_line],
        render_kw={"autocomplete": "current-password"},
    )


class DecisionForm(FlaskForm):
    """Approve a permit: no fields but the CSRF token and where to go back to."""

    next = HiddenField()


class ApproveForm(DecisionForm):
    """Approve a permit, optionally with an earlier end of validity than the default length."""

    # A date (the end of that local day). Its rules (future, at most PERMIT_VALIDITY_DAYS ahead)
    # are the service's, the same the JSON API applies; the browser shows a date picker.
    valid_until = StringField(
        _l("Valid until (optional)"),
        validators=[Optional(), Length(max=40), single_line],
        render_kw={"type": "date"},
    )


class RevokeForm(DecisionForm):
    """Revoke a permit, with an optional reason that is kept in its history."""

    reason = StringField(
        _l("Reason (optional, shown to the resident)"),
        # The domain's rule, the same the JSON API applies (one line, at most REASON_MAX).
        validators=[Optional(), domain_rule(clean_reason)],
    )


class ResidentActionForm(FlaskForm):
    """Cancel or renew from the receipt: no fields but the CSRF token."""
