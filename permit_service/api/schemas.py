"""Marshmallow schemas of the JSON API, built once at module level."""

from __future__ import annotations

import operator
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app
from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from permit_service import localtime
from permit_service.domain import (
    ADDRESS_MAX,
    DUE_BY_STATUS,
    EMAIL_MAX,
    NAME_MAX,
    PLATE_HELP,
    PLATE_MAX_LENGTH,
    PLATE_PATTERN,
    REASON_MAX,
    PermitStatus,
    ValidationFailed,
    clean_reason,
    normalize_plate,
    status_at,
    validate_application,
)
from permit_service.models import utcnow
from permit_service.references import REFERENCE_RE
from permit_service.services.queries import (
    API_SORTS,
    PERMIT_COLUMNS,
    status_of,
    waitlist_position,
)
from permit_service.services.zones import ZONE_NAME_MAX, clean_code, clean_fee, clean_quota


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"


def _kept(permit: Any, value: str) -> str | None:
    """A resident's detail, or None once retention anonymised the permit."""
    return value if permit.anonymised_at is None else None


ZONE_CODE_PATTERN = r"^[A-Za-z0-9]{1,10}$"


class PermitSchema(Schema):
    """A permit as API clients see it; `status` is exact to the deadline.

    The fields below document the API (OpenAPI) and define the output; `dump` produces the same
    dictionaries without marshmallow's per-field machinery, which cost more than the database
    work itself on a 50-item page (profiled in bench/). A test holds the two to equality.
    """

    id = fields.String(dump_only=True, required=True, metadata={"format": "uuid"})
    name = fields.Function(
        lambda permit: _kept(permit, permit.name),
        required=True,
        allow_none=True,
        metadata={"type": "string", "description": "Null once anonymised."},
    )
    license_plate = fields.Function(
        lambda permit: _kept(permit, permit.license_plate),
        required=True,
        allow_none=True,
        metadata={
            "type": "string",
            "description": "Upper case, as it was given (ABC-123). Null once anonymised.",
        },
    )
    address = fields.Function(
        lambda permit: _kept(permit, permit.address),
        required=True,
        allow_none=True,
        metadata={"type": "string", "description": "Null once anonymised."},
    )
    email = fields.String(
        required=True, allow_none=True, metadata={"description": "Null when none was given."}
    )
    anonymised = fields.Function(
        lambda permit: permit.anonymised_at is not None,
        required=True,
        metadata={
            "type": "boolean",
            "description": "True once RETENTION_DAYS after the permit ended: its resident's "
            "name, plate, address and e-mail are removed (null); status, zone, fee and times "
            "stay.",
        },
    )
    status = fields.Function(
        lambda permit: status_of(permit).value,
        required=True,
        metadata={"type": "string", "enum": [s.value for s in PermitStatus]},
    )
    created_at = fields.AwareDateTime(format="iso", required=True)
    updated_at = fields.AwareDateTime(format="iso", required=True)
    expires_at = fields.AwareDateTime(
        format="iso",
        required=True,
        allow_none=True,
        metadata={"description": "Deadline of a pending application; null once decided."},
    )
    reference = fields.String(
        dump_only=True,
        required=True,
        metadata={
            "example": "P-7K3M-Q9",
            "pattern": REFERENCE_RE.pattern,
            "description": "Short reference for phone calls and letters (no O/0, I/1).",
        },
    )
    valid_from = fields.AwareDateTime(
        format="iso",
        required=True,
        allow_none=True,
        metadata={"description": "Start of an approved permit's validity; null before approval."},
    )
    valid_until = fields.AwareDateTime(
        format="iso",
        required=True,
        allow_none=True,
        metadata={
            "description": "End of an approved permit's validity (the end of a local day unless "
            "the approval gave a time): from then on the permit is expired. Null before "
            "approval; kept after the permit ends."
        },
    )

    zone = fields.String(
        required=True, metadata={"example": "CITY", "description": "Code of the permit's zone."}
    )
    waitlist_position = fields.Function(
        waitlist_position,
        required=True,
        allow_none=True,
        metadata={
            "type": "integer",
            "minimum": 1,
            "description": "1-based place in its zone's waiting list while `waitlisted`, "
            "else null.",
        },
    )
    fee = fields.Function(
        lambda permit: _money(permit.fee),
        required=True,
        allow_none=True,
        metadata={
            "type": "string",
            "example": "120.00",
            "pattern": r"^[0-9]+\.[0-9]{2}$",
            "description": "The zone's monthly fee times the months of validity, fixed when "
            "the validity starts and grown by each renewal; null before. No payment is taken.",
        },
    )
    currency = fields.Function(
        lambda _: current_app.config["CURRENCY"],
        required=True,
        metadata={"type": "string", "example": "EUR", "description": "ISO 4217 code of `fee`."},
    )

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """Serialise one permit or many; one clock reading, so a page agrees with itself.

        Listings give rows (services.queries.PERMIT_COLUMNS): those are unpacked by position.
        An application answers with the inserted values (a dict of every column).
        """
        now = utcnow()
        currency = current_app.config["CURRENCY"]
        if self.many if many is None else many:
            return [
                _row_dict(permit, now, currency)
                if isinstance(permit, sa.Row)
                else self._fast(permit, now, currency)
                for permit in obj
            ]
        if isinstance(obj, sa.Row):
            return _row_dict(obj, now, currency)
        if isinstance(obj, dict):
            return _row_dict(_IN_ROW_ORDER(obj), now, currency)
        return self._fast(obj, now, currency)

    @staticmethod
    def _fast(permit: Any, now: datetime, currency: str) -> dict[str, Any]:
        kept = permit.anonymised_at is None
        return {
            "anonymised": not kept,
            "zone": permit.zone,
            "waitlist_position": waitlist_position(permit),
            "fee": _money(permit.fee),
            "currency": currency,
            "address": permit.address if kept else None,
            "created_at": _iso(permit.created_at),
            "email": permit.email,
            "expires_at": _iso(permit.expires_at),
            "id": permit.id,
            "license_plate": permit.license_plate if kept else None,
            "name": permit.name if kept else None,
            "reference": permit.reference,
            "status": status_at(permit, now).value,
            "updated_at": _iso(permit.updated_at),
            "valid_from": _iso(permit.valid_from),
            "valid_until": _iso(permit.valid_until),
        }


# The order of services.queries.PERMIT_COLUMNS (checked at import: a new column fails loudly).
_ROW_FIELDS = [
    *("id", "name", "license_plate", "plate_key", "address", "email", "status", "created_at"),
    *("updated_at", "expires_at", "reference", "valid_from", "valid_until", "zone"),
    *("waitlisted_at", "fee", "language", "anonymised_at"),
]
if tuple(_ROW_FIELDS) != tuple(c.key for c in PERMIT_COLUMNS):  # pragma: no cover
    raise RuntimeError("PermitSchema's row dump does not know the permits table's columns")
_IN_ROW_ORDER = operator.itemgetter(*_ROW_FIELDS)  # a dict of the columns, as a row


_TIME_KEYS = ("created_at", "expires_at", "updated_at", "valid_from", "valid_until")


def _row_dict(row: Any, now: datetime, currency: str) -> dict[str, Any]:
    """PermitSchema's dictionary of a listing row: the same keys and values as `_fast`."""
    values = _row_values(row, now, currency)
    for key in _TIME_KEYS:
        moment = values[key]
        if moment is not None:
            values[key] = moment.isoformat()
    return values


def listing_values(rows: Any) -> list[dict[str, Any]]:
    """PermitSchema's dump of listing rows, but with the moments left as aware datetimes, for
    an encoder that writes them as their `isoformat()` (orjson: blueprint.rfc3339_response).
    One clock reading for the page, as `dump`."""
    now = utcnow()
    currency = current_app.config["CURRENCY"]
    return [_row_values(row, now, currency) for row in rows]


def _row_values(row: Any, now: datetime, currency: str) -> dict[str, Any]:
    """`_row_dict` with the moments as datetimes (one place decides every value)."""
    (
        pid,
        name,
        plate,
        _,
        address,
        email,
        status,
        created_at,
        updated_at,
        expires_at,
        reference,
        valid_from,
        valid_until,
        zone,
        _,
        fee,
        _,
        anonymised_at,
        *_,  # a listing's row may end with its total (services.queries.list_filtered)
    ) = row
    due = DUE_BY_STATUS.get(status)
    if due is not None:
        deadline = expires_at if due[0] == "expires_at" else valid_until
        if deadline is not None and deadline <= now:
            status = due[1]
    kept = anonymised_at is None
    return {
        "anonymised": not kept,
        "zone": zone,
        "waitlist_position": (
            waitlist_position(row) if status == PermitStatus.WAITLISTED.value else None
        ),
        "fee": None if fee is None else f"{fee:.2f}",
        "currency": currency,
        "address": address if kept else None,
        "created_at": created_at,
        "email": email,
        "expires_at": expires_at,
        "id": pid,
        "license_plate": plate if kept else None,
        "name": name if kept else None,
        "reference": reference,
        "status": status,
        "updated_at": updated_at,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }


class PermitApplicationSchema(Schema):
    """What a resident submits: name, licence plate, address and optionally an e-mail."""

    name = fields.String(
        required=True,
        metadata={
            "example": "John Doe",
            "minLength": 1,
            "maxLength": NAME_MAX,
            "description": "One line of text (no line breaks or control characters).",
        },
    )
    license_plate = fields.String(
        required=True,
        metadata={
            "example": "ABC-123",
            "pattern": PLATE_PATTERN,
            "minLength": 2,
            "maxLength": PLATE_MAX_LENGTH,
            "description": PLATE_HELP + " Any letter case; blanks around it are ignored.",
        },
    )
    address = fields.String(
        required=True,
        metadata={
            "example": "123 Main St",
            "minLength": 1,
            "maxLength": ADDRESS_MAX,
            "description": "One line of text (no line breaks or control characters).",
        },
    )
    email = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "format": "email",
            "example": "john@example.org",
            "minLength": 3,
            "maxLength": EMAIL_MAX,
        },
    )

    zone = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "example": "CITY",
            "pattern": ZONE_CODE_PATTERN,
            "description": "Code of an open zone (GET /zones). Optional while exactly one zone "
            "is open; unknown, closed, or missing while several are open: 422.",
        },
    )

    @validates("zone")
    def check_zone_code(self, value: str | None, **_: Any) -> None:
        """A zone code's shape, when one is sent (leave it out, or null, for the only one)."""
        if value is not None:
            try:
                clean_code(value)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc

    @validates("email")
    def check_email_given(self, value: str | None, **_: Any) -> None:
        """An e-mail is optional, but when the field is sent it must hold an address."""
        if value is not None and not value.strip():
            raise ValidationError("Leave out `email` (or send null), or give a valid address.")

    @post_load
    def check_rules(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Apply SPEC.md section 2's rules, returning the cleaned values."""
        try:
            clean = validate_application(
                data["name"], data["license_plate"], data["address"], data.get("email")
            )
        except ValidationFailed as exc:
            raise ValidationError(exc.errors) from exc
        # Whether the zone exists and is open is the service's to say (a 422 on `zone` too).
        return {**clean, "zone": data.get("zone")}


_APPLICATION_KEYS = frozenset(PermitApplicationSchema().fields)


def plain_application(body: Any) -> dict[str, Any] | None:
    """What PermitApplicationSchema loads from a plainly valid application body (only its
    fields; name, plate and address strings; e-mail and zone absent, null or well-formed
    strings; SPEC.md section 2's rules met), read without marshmallow (issue 17); None for
    anything else, which the schema then reads and answers (the same 422s)."""
    if type(body) is not dict or not _APPLICATION_KEYS.issuperset(body):
        return None
    name, plate, address = body.get("name"), body.get("license_plate"), body.get("address")
    if type(name) is not str or type(plate) is not str or type(address) is not str:
        return None
    email, zone = body.get("email"), body.get("zone")
    if email is not None and (type(email) is not str or not email.strip()):
        return None
    try:
        if zone is not None:
            if type(zone) is not str:
                return None
            clean_code(zone)
        clean = validate_application(name, plate, address, email)
    except (ValueError, ValidationFailed):
        return None
    return {**clean, "zone": zone}


class Moment(fields.String):
    """A date (local midnight in CITY_TIMEZONE) or a date-time with offset, loaded as UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or len(value) > 64:
            raise ValidationError("Give a date (YYYY-MM-DD) or a date-time with its offset.")
        try:
            return localtime.parse_moment(value)
        except ValueError:
            raise ValidationError(
                "Give a date (YYYY-MM-DD) or a date-time with its offset "
                "(YYYY-MM-DDTHH:MM:SS+01:00)."
            ) from None


class PermitListArgsSchema(Schema):
    """Filters of the admin listing."""

    # Pagination is parsed by flask-smorest's own schema; anything else is refused below.
    KNOWN = frozenset(
        {
            "status",
            "license_plate",
            "zone",
            "created_from",
            "created_to",
            "sort",
            "page",
            "page_size",
        }
    )

    status = fields.String(
        validate=validate.OneOf([s.value for s in PermitStatus]),
        metadata={
            "description": "Effective status: a pending permit past its deadline, and an "
            "approved permit past its `valid_until`, are expired."
        },
    )
    license_plate = fields.String(
        metadata={"description": "Any spelling of the plate: ABC-123, abc 123 and ABC123 match."}
    )

    zone = fields.String(
        metadata={"pattern": ZONE_CODE_PATTERN, "description": "Only permits of this zone."}
    )

    created_from = Moment(
        metadata={
            "description": "Only permits applied for at or after this moment (inclusive): a "
            "date (`YYYY-MM-DD`, local midnight in the city's time zone) or a date-time with "
            "its offset.",
            "example": "2026-12-01",
        },
    )
    created_to = Moment(
        metadata={
            "description": "Only permits applied for before this moment (exclusive): a date "
            "(local midnight at its start) or a date-time with its offset.",
            "example": "2027-01-01",
        },
    )
    sort = fields.String(
        load_default="-created_at",
        validate=validate.OneOf(API_SORTS),
        metadata={
            "description": "Order: `-created_at` (default, newest first), `created_at`, "
            "`expires_at` (soonest deadline first), `valid_until`, `-valid_until`, "
            "`license_plate`, `-license_plate`. Permits without the value (no deadline, no "
            "validity) come last; ties are broken by id.",
        },
    )

    @validates("zone")
    def check_zone(self, value: str, **_: Any) -> None:
        """A zone code's shape (any case)."""
        try:
            clean_code(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    @validates("license_plate")
    def check_plate(self, value: str, **_: Any) -> None:
        """Refuse a filter that could never match a valid plate."""
        try:
            normalize_plate(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    @validates_schema(pass_original=True)
    def refuse_unknown(self, _: dict[str, Any], original: Any, **__: Any) -> None:
        """Unknown query parameters are refused (422), as unknown JSON fields are."""
        unknown = sorted(set(original) - self.KNOWN)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})


_PLAIN_LIST_KEYS = frozenset({"status", "license_plate", "zone", "sort", "page", "page_size"})
_STATUS_VALUES = frozenset(s.value for s in PermitStatus)
_SORTS = frozenset(API_SORTS)
_DEFAULT_SORT = PermitListArgsSchema().fields["sort"].load_default


def plain_list_args(query: Any) -> dict[str, Any] | None:
    """What PermitListArgsSchema loads from a plainly valid query (each argument once, no
    date-time filter, every value valid by the schema's own checks), read without webargs and
    marshmallow (issue 17); None for anything else, which the schema then reads and answers.
    `page` and `page_size` are the pagination parser's."""
    if not _PLAIN_LIST_KEYS.issuperset(query.keys()):
        return None
    if any(len(values) != 1 for values in query.listvalues()):
        return None
    sort = query.get("sort", _DEFAULT_SORT)
    if sort not in _SORTS:
        return None
    args: dict[str, Any] = {"sort": sort}
    status = query.get("status")
    if status is not None:
        if status not in _STATUS_VALUES:
            return None
        args["status"] = status
    plate = query.get("license_plate")
    zone = query.get("zone")
    try:
        if plate is not None:
            normalize_plate(plate)
            args["license_plate"] = plate
        if zone is not None:
            clean_code(zone)
            args["zone"] = zone
    except ValueError:
        return None
    return args


class ApprovalSchema(Schema):
    """An approval may set the end of validity; other fields are refused (422), not ignored."""

    valid_until = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "example": "2027-06-30",
            "description": "End of validity: a date (`YYYY-MM-DD`, meaning the end of that day "
            "in the city's time zone) or a date-time with its offset. In the future and at "
            "most the default validity ahead (PERMIT_VALIDITY_DAYS). Left out or null: the "
            "default validity.",
        },
    )


class PermitCountArgsSchema(PermitListArgsSchema):
    """Filters of the count: those of the listing, without pagination and order."""

    KNOWN = frozenset({"status", "license_plate", "zone", "created_from", "created_to"})

    class Meta:
        exclude = ("sort",)


class CountSchema(Schema):
    """How many permits match."""

    count = fields.Integer(required=True, metadata={"example": 42, "minimum": 0})


class RevokeSchema(Schema):
    """Optional reason for a revocation: kept in the history and shown to the resident."""

    reason = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "example": "Resident moved out of the zone",
            "maxLength": REASON_MAX,
            "description": "One line of text (no line breaks, control or direction-override "
            "characters); blank means none.",
        },
    )

    @post_load
    def check_reason(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """The domain's rule for reasons, the same as the web form's; returns it trimmed."""
        try:
            return {**data, "reason": clean_reason(data.get("reason"))}
        except ValueError as exc:
            raise ValidationError({"reason": [str(exc)]}) from exc


class PermitEventSchema(Schema):
    """One recorded change of a permit's status."""

    id = fields.Integer(required=True)
    permit_id = fields.String(required=True, metadata={"format": "uuid"})
    from_status = fields.String(required=True, allow_none=True)
    to_status = fields.String(required=True)
    actor = fields.String(
        required=True, metadata={"description": "Admin e-mail, `system` or `applicant`."}
    )
    reason = fields.String(required=True, allow_none=True)
    created_at = fields.AwareDateTime(format="iso", required=True)


class PermitReadSchema(Schema):
    """One staff read of a permit's data (the read audit)."""

    reader = fields.Function(
        lambda read: read.user.email,
        required=True,
        metadata={"type": "string", "description": "The staff member's e-mail."},
    )
    what = fields.String(
        required=True,
        metadata={
            "description": "`page` (the staff page: details, history, e-mails), `api_permit`, "
            "`api_events`, `api_notifications`."
        },
    )
    created_at = fields.AwareDateTime(format="iso", required=True)


class NotificationSchema(Schema):
    """One message to the permit's resident and its delivery state."""

    kind = fields.String(
        required=True,
        metadata={
            "description": "What it tells: `received`, `approved`, `waitlisted`, `place_given`, "
            "`refused`, `revoked`, `cancelled`, `expired`, `renewed`, `validity_ending`, "
            "`validity_ended`."
        },
    )
    status = fields.String(
        required=True,
        metadata={"description": "`queued` (waiting or retrying), `sent`, or `failed`."},
    )
    attempts = fields.Integer(required=True, metadata={"description": "Send attempts so far."})
    last_error = fields.String(
        required=True, allow_none=True, metadata={"description": "Why the last attempt failed."}
    )
    created_at = fields.AwareDateTime(format="iso", required=True)
    sent_at = fields.AwareDateTime(format="iso", required=True, allow_none=True)


class HealthSchema(Schema):
    """Liveness / readiness answer."""

    status = fields.String(required=True, metadata={"example": "ok"})
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "Readiness only: `ok` or `down: <why>` per dependency."},
    )


class ZoneSchema(Schema):
    """A zone: its quota, monthly fee, whether it takes applications, and its places now."""

    code = fields.String(
        required=True, metadata={"example": "NORTH", "pattern": "^[A-Z0-9]{1,10}$"}
    )
    name = fields.String(required=True, metadata={"example": "North"})
    quota = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"minimum": 0, "description": "Most valid approved permits; null: no limit."},
    )
    monthly_fee = fields.Function(
        lambda view: _money(view.zone.monthly_fee),
        required=True,
        metadata={"type": "string", "example": "12.50", "pattern": r"^[0-9]+\.[0-9]{2}$"},
    )
    currency = fields.Function(
        lambda _: current_app.config["CURRENCY"],
        required=True,
        metadata={"type": "string", "example": "EUR"},
    )
    open = fields.Boolean(required=True, metadata={"description": "Accepts applications."})
    valid_permits = fields.Integer(
        required=True, metadata={"minimum": 0, "description": "Approved and valid now."}
    )
    waitlist_length = fields.Integer(
        required=True, metadata={"minimum": 0, "description": "Permits waiting for a place."}
    )

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """Serialise ZoneView objects (services.zones)."""
        if self.many if many is None else many:
            return [self._fast(view) for view in obj]
        return self._fast(obj)

    @staticmethod
    def _fast(view: Any) -> dict[str, Any]:
        zone = view.zone
        return {
            "code": zone.code,
            "name": zone.name,
            "quota": zone.quota,
            "monthly_fee": _money(zone.monthly_fee),
            "currency": current_app.config["CURRENCY"],
            "open": bool(zone.open),
            "valid_permits": view.valid_permits,
            "waitlist_length": view.waitlist_length,
        }


class _StrictBoolean(fields.Boolean):
    """true or false, nothing that merely looks like one (0, "yes")."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean: use true or false.")
        return value


class _Amount(fields.Field):
    """A decimal amount given as a string or a number."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        try:
            return clean_fee(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class _Quota(fields.Field):
    """A quota: a whole number 0 or more, or null."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int | None:
        if isinstance(value, float | str):
            raise ValidationError("The quota must be a whole number, 0 or more, or null.")
        try:
            return clean_quota(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class ZoneUpdateSchema(Schema):
    """Fields of a zone to change; those left out stay as they are."""

    name = fields.String(metadata={"example": "North", "minLength": 1, "maxLength": ZONE_NAME_MAX})
    quota = _Quota(
        allow_none=True,
        metadata={
            "type": "integer",
            "nullable": True,
            "minimum": 0,
            "description": "Most valid approved permits; null: no limit. Raising it gives the "
            "new places to the waiting list at once; lowering it revokes nothing.",
        },
    )
    monthly_fee = _Amount(
        metadata={
            "oneOf": [
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"},
                {"type": "number"},
            ],
            "example": "12.50",
            "description": "Fee per month of validity, 0 or more, at most 2 decimals.",
        }
    )
    open = _StrictBoolean(metadata={"description": "Accepts applications."})


class ZoneCreateSchema(ZoneUpdateSchema):
    """A new zone: code and name required; no quota, fee 0 and open unless given."""

    code = fields.String(
        required=True,
        metadata={
            "example": "NORTH",
            "pattern": ZONE_CODE_PATTERN,
            "description": "1-10 letters A-Z and digits (upper-cased).",
        },
    )
    name = fields.String(
        required=True, metadata={"example": "North", "minLength": 1, "maxLength": ZONE_NAME_MAX}
    )

    @validates("code")
    def check_code(self, value: str, **_: Any) -> None:
        """1-10 letters A-Z and digits."""
        try:
            clean_code(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class ExportRequestSchema(PermitListArgsSchema):
    """What to export: the listing's filters (all optional; none: every permit)."""

    KNOWN = frozenset({"status", "zone", "created_from", "created_to"})

    class Meta:
        exclude = ("sort", "license_plate")


class ExportSchema(Schema):
    """An export: its progress, and where to download it once `done`."""

    id = fields.String(required=True, metadata={"format": "uuid"})
    status = fields.String(
        required=True,
        metadata={
            "enum": ["queued", "running", "done", "failed"],
            "description": "`queued`, then `running` (a worker writes it), then `done` or "
            "`failed`.",
        },
    )
    rows = fields.Integer(
        required=True,
        attribute="row_count",
        metadata={"minimum": 0, "description": "Permits written so far (all of them once done)."},
    )
    created_at = fields.AwareDateTime(format="iso", required=True)
    finished_at = fields.AwareDateTime(format="iso", required=True, allow_none=True)
    download_url = fields.Function(
        lambda export: f"/exports/{export.id}/download" if export.status == "done" else None,
        required=True,
        allow_none=True,
        metadata={"type": "string", "description": "Where to get the CSV; null until `done`."},
    )
    filters = fields.Function(
        lambda export: {
            "status": export.status_filter,
            "zone": export.zone_filter,
            "created_from": _iso(export.created_from),
            "created_to": _iso(export.created_to),
        },
        required=True,
        metadata={"type": "object", "description": "The filters it was asked with."},
    )
