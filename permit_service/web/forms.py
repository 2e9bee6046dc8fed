"""Flask-WTF forms of the web pages. They check input shape with the domain's own rules."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.validators import AnyOf, InputRequired, Length, Optional, ValidationError

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
    # The choices (the open zones) are the view's: it shows the select only when several zones
    # are open. Whether a zone exists and is open is the service's rule (its message shows on
    # this field), so the form does not refuse a choice it did not offer.
    zone = SelectField(_l("Zone"), choices=[], validate_choice=False)
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


class MoneyField(StringField):
    """An amount of money with at most 2 decimals: '12.50', '12,50' (German) or '12'."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Keep the text as typed (to show it again on an error); parse it into `amount`."""
        super().process_formdata(valuelist)
        self.amount: Decimal | None = None
        text = (self.data or "").strip().replace("\u00a0", "").replace(" ", "")
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        if not text:
            return
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(_l("Enter the monthly fee as an amount, for example 12.50.")) from None
        if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError(
                _l("Enter the monthly fee as an amount of 0 or more with at most 2 decimals.")
            )
        if amount >= Decimal("100000000"):
            raise ValueError(_l("Enter a monthly fee below 100,000,000."))
        self.amount = amount


class QuotaField(StringField):
    """A whole number of 0 or more, or empty (no quota: unlimited)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Keep the text as typed; parse it into `number` (None when empty)."""
        super().process_formdata(valuelist)
        self.number: int | None = None
        text = (self.data or "").strip()
        if not text:
            return
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise ValueError(
                _l("Enter the quota as a whole number of 0 or more, or leave it empty.")
            )
        self.number = int(text)


class ZoneForm(FlaskForm):
    """Create or edit a zone: code (on creation only), name, quota, monthly fee, open."""

    code = StringField(
        _l("Code"),
        validators=[
            InputRequired(_l("Enter the zone's code.")),
            Length(max=10, message=_l("Use at most 10 letters and digits.")),
            single_line,
        ],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
    name = StringField(
        _l("Name"),
        validators=[
            InputRequired(_l("Enter the zone's name.")),
            Length(max=120, message=_l("Use at most 120 characters.")),
            single_line,
        ],
        render_kw={"autocomplete": "off"},
    )
    quota = QuotaField(_l("Quota (optional)"), render_kw={"inputmode": "numeric"})
    monthly_fee = MoneyField(
        _l("Monthly fee"),
        validators=[InputRequired(_l("Enter the monthly fee (0 for a free permit)."))],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    open = BooleanField(_l("Open for applications"), default=True)


class BulkDecisionForm(RevokeForm):
    """Approve, or refuse/revoke, the rows ticked in the queue (their ids come as `ids`)."""

    action = StringField(validators=[InputRequired(), AnyOf(["approve", "revoke"])])
