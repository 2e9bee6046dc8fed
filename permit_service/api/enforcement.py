"""JSON API for enforcement (wardens' handhelds, camera cars): thin views over
permit_service.services.enforcement. Enforcer or admin tokens only; no personal data answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from flask import Response, current_app, g
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from permit_service.api.blueprint import Blueprint
from permit_service.api.security import enforcer_required
from permit_service.domain import PLATE_PATTERN, ValidationFailed
from permit_service.services import enforcement as service
from permit_service.services.zones import clean_code

blp = Blueprint(
    "enforcement",
    __name__,
    url_prefix="/enforcement",
    description="Plate checks for wardens and camera cars (enforcer or admin accounts)",
)

BEARER = [{"bearerAuth": []}]
ZONE_CODE_PATTERN = r"^[A-Za-z0-9]{1,10}$"


class _StrictArgs(Schema):
    """Query arguments; unknown ones are refused (422), as unknown JSON fields are."""

    KNOWN: frozenset[str] = frozenset()

    @validates_schema(pass_original=True)
    def refuse_unknown(self, _: dict[str, Any], original: Any, **__: Any) -> None:
        unknown = sorted(set(original) - self.KNOWN)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})

    @validates("zone")
    def check_zone(self, value: str, **_: Any) -> None:
        """A zone code's shape (any case); whether it exists is the service's to say."""
        try:
            clean_code(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class _Moment(fields.String):
    """A date-time with its offset (`Z` or `+01:00`; write `+` as `%2B` in a URL)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        message = "Give a date-time with its offset, e.g. 2026-12-03T14:30:00Z (write + as %2B)."
        if not isinstance(value, str) or len(value) > 40 or "T" not in value.upper():
            raise ValidationError(message)
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(message) from None
        if moment.tzinfo is None:
            raise ValidationError(message)
        return moment


class CheckArgsSchema(_StrictArgs):
    """What a check asks: a plate in any spelling, a zone, optionally a moment."""

    KNOWN = frozenset({"license_plate", "zone", "at"})

    license_plate = fields.String(
        required=True,
        metadata={
            "pattern": PLATE_PATTERN,
            "description": "The plate in any spelling: ABC-123, abc 123 and ABC123 are one.",
            "example": "ABC-123",
        },
    )
    zone = fields.String(
        required=True,
        metadata={"pattern": ZONE_CODE_PATTERN, "description": "The zone's code (any case)."},
    )
    at = _Moment(
        metadata={
            "format": "date-time",
            "description": "The moment asked about (default: now), a date-time with its offset.",
        }
    )


class CheckSchema(Schema):
    """The answer: the plate as asked (trimmed, upper-cased), zone, moment, permitted or not."""

    license_plate = fields.String(required=True, metadata={"example": "ABC-123"})
    zone = fields.String(required=True, metadata={"example": "CITY"})
    at = fields.AwareDateTime(format="iso", required=True)
    permitted = fields.Boolean(required=True)
    valid_until = fields.AwareDateTime(
        format="iso",
        required=True,
        allow_none=True,
        metadata={"description": "End of validity of the permit allowing it; null when not."},
    )

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The answer as JSON-ready values (no marshmallow field walk: the hottest path)."""
        until = obj.valid_until
        return {
            "license_plate": obj.license_plate,
            "zone": obj.zone,
            "at": obj.at.isoformat(),
            "permitted": obj.permitted,
            "valid_until": None if until is None else until.isoformat(),
        }


class ValidPermitsArgsSchema(_StrictArgs):
    """Which zone, and where the page starts."""

    KNOWN = frozenset({"zone", "cursor", "limit"})

    zone = fields.String(
        required=True,
        metadata={"pattern": ZONE_CODE_PATTERN, "description": "The zone's code (any case)."},
    )
    cursor = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "`next_cursor` of the previous page; leave out for the first."},
    )
    limit = fields.Integer(
        load_default=service.DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=service.MAX_LIMIT),
        metadata={"description": f"Permits per page (default {service.DEFAULT_LIMIT})."},
    )


class ValidPermitSchema(Schema):
    """A permit valid now: plate and validity only."""

    license_plate = fields.String(required=True, metadata={"example": "ABC-123"})
    zone = fields.String(required=True, metadata={"example": "CITY"})
    valid_from = fields.AwareDateTime(format="iso", required=True)
    valid_until = fields.AwareDateTime(format="iso", required=True)


class ValidPermitsSchema(Schema):
    """One page of a zone's valid permits and the cursor of the next (null on the last)."""

    items = fields.List(fields.Nested(ValidPermitSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """JSON-ready values without a field walk per item (pages of up to 5,000)."""
        return {
            "items": [
                {
                    "license_plate": plate,
                    "zone": zone,
                    "valid_from": start.isoformat(),
                    "valid_until": end.isoformat(),
                }
                for plate, zone, start, end in obj.items
            ],
            "next_cursor": obj.next_cursor,
        }


_MOMENT = _Moment()


def _plain_check_args(query: Any) -> dict[str, Any] | None:
    """The check's arguments when the query is plainly valid (each known one once, the
    required ones there, the zone and `at` well-formed), read without webargs; else None."""
    if any(len(values) != 1 for values in query.listvalues()):
        return None
    plate, zone, at = query.get("license_plate"), query.get("zone"), query.get("at")
    if plate is None or zone is None or len(query) != 2 + (at is not None):
        return None
    try:
        clean_code(zone)
        args: dict[str, Any] = {"license_plate": plate, "zone": zone}
        if at is not None:
            args["at"] = _MOMENT.deserialize(at)
    except (ValueError, ValidationError):
        return None
    return args


def _check(args: dict[str, Any]) -> service.Check:
    """The check's answer to these arguments (a 422 for a plate or zone the service refuses)."""
    try:
        return service.check(args["license_plate"], args["zone"], args.get("at"), g.api_user_id)
    except ValidationFailed as exc:
        _refuse(exc)


def _answer_check(args: dict[str, Any]) -> Response:
    """What `blp.response(200, CHECK_SCHEMA)` answers for the check: its dump, jsonify'd."""
    return current_app.json.response(CHECK_SCHEMA.dump(_check(args)))  # type: ignore[no-any-return]


def _refuse(exc: ValidationFailed) -> NoReturn:
    """A query argument the service refused: 422 naming it, as argument errors are named."""
    abort(422, message=exc.message, errors={"query": exc.errors})


CHECK_SCHEMA = CheckSchema()
VALID_PERMITS_SCHEMA = ValidPermitsSchema()


@blp.route("/check")
class EnforcementCheck(MethodView):
    init_every_request = False  # no state: one instance serves every request

    @enforcer_required()
    # A plainly valid query is read directly and answered by _answer_check.
    @blp.query_arguments(CheckArgsSchema, _plain_check_args, answer=_answer_check)
    @blp.response(200, CHECK_SCHEMA)
    @blp.doc(security=BEARER, operationId="checkPlate")
    def get(self, args: dict[str, Any]) -> Any:
        """May this plate park in this zone now (or at `at`)? Enforcers and admins.

        `permitted` when an approved permit of the plate, in any spelling, in that zone is
        valid at `at`: from its `valid_from` until its `valid_until` plus
        ENFORCEMENT_GRACE_SECONDS, exact to the moment whether or not the expiry sweep has
        run. Pending, waitlisted and revoked permits never allow parking. An unknown zone is a
        422 (a typo must not read as "not permitted"). The answer holds no name, address or
        e-mail. Every check is logged (account, plate, zone, time, answer) for
        ENFORCEMENT_LOG_HOURS.
        """
        return _check(args)


@blp.route("/permits")
class EnforcementPermits(MethodView):
    @enforcer_required()
    @blp.arguments(ValidPermitsArgsSchema, location="query")
    @blp.response(200, VALID_PERMITS_SCHEMA)
    @blp.doc(security=BEARER, operationId="listValidPermits")
    def get(self, args: dict[str, Any]) -> Any:
        """The zone's permits valid now, for camera cars to sync (enforcers and admins).

        Plate and validity only, in a fixed order, `limit` per page (default 500, at most
        5,000). Follow `next_cursor` until it is null: a permit valid during the whole walk is
        listed exactly once, whatever changes meanwhile; one that starts or stops being valid
        during it may or may not be. Valid means as in the check, ENFORCEMENT_GRACE_SECONDS
        included.
        """
        try:
            return service.valid_permits(args["zone"], args.get("cursor"), args["limit"])
        except ValidationFailed as exc:
            _refuse(exc)
