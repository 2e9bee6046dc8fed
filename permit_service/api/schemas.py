"""Marshmallow schemas of the JSON API, built once at module level."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from permit_service.domain import (
    ADDRESS_MAX,
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
from permit_service.services.queries import status_of


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class PermitSchema(Schema):
    """A permit as API clients see it; `status` is exact to the deadline.

    The fields below document the API (OpenAPI) and define the output; `dump` produces the same
    dictionaries without marshmallow's per-field machinery, which cost more than the database
    work itself on a 50-item page (profiled in bench/). A test holds the two to equality.
    """

    id = fields.String(dump_only=True, required=True, metadata={"format": "uuid"})
    name = fields.String(required=True)
    license_plate = fields.String(
        required=True, metadata={"description": "Upper case, as it was given (ABC-123)."}
    )
    address = fields.String(required=True)
    email = fields.String(required=True, allow_none=True)
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

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """Serialise one permit or many; one clock reading, so a page agrees with itself."""
        now = utcnow()
        if self.many if many is None else many:
            return [self._fast(permit, now) for permit in obj]
        return self._fast(obj, now)

    @staticmethod
    def _fast(permit: Any, now: datetime) -> dict[str, Any]:
        return {
            "address": permit.address,
            "created_at": _iso(permit.created_at),
            "email": permit.email,
            "expires_at": _iso(permit.expires_at),
            "id": permit.id,
            "license_plate": permit.license_plate,
            "name": permit.name,
            "reference": permit.reference,
            "status": status_at(permit, now).value,
            "updated_at": _iso(permit.updated_at),
            "valid_from": _iso(permit.valid_from),
            "valid_until": _iso(permit.valid_until),
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

    @validates("email")
    def check_email_given(self, value: str | None, **_: Any) -> None:
        """An e-mail is optional, but when the field is sent it must hold an address."""
        if value is not None and not value.strip():
            raise ValidationError("Leave out `email` (or send null), or give a valid address.")

    @post_load
    def check_rules(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Apply SPEC.md section 2's rules, returning the cleaned values."""
        try:
            return validate_application(
                data["name"], data["license_plate"], data["address"], data.get("email")
            )
        except ValidationFailed as exc:
            raise ValidationError(exc.errors) from exc


class PermitListArgsSchema(Schema):
    """Filters of the admin listing."""

    # Pagination is parsed by flask-smorest's own schema; anything else is refused below.
    KNOWN = frozenset({"status", "license_plate", "page", "page_size"})

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
    """Filters of the count: those of the listing, without pagination."""

    KNOWN = frozenset({"status", "license_plate"})


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


class HealthSchema(Schema):
    """Liveness / readiness answer."""

    status = fields.String(required=True, metadata={"example": "ok"})
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "Readiness only: `ok` or `down: <why>` per dependency."},
    )
