"""JSON API for zones: thin views over permit_service.services.zones."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from permit_service.api.blueprint import Blueprint, fail
from permit_service.api.openapi import LOCATION_HEADER, ErrorSchema
from permit_service.api.schemas import (
    PermitSchema,
    ZoneCreateSchema,
    ZoneSchema,
    ZoneUpdateSchema,
)
from permit_service.api.security import admin_required
from permit_service.domain import DomainError
from permit_service.services import cached
from permit_service.services import zones as service

blp = Blueprint("zones", __name__, url_prefix="/zones", description="Zones, quotas and fees")

ADMIN = [{"bearerAuth": []}]


def zone_code_parameter() -> list[dict[str, Any]]:
    """The {code} path parameter's documentation (a fresh copy: smorest updates it)."""
    return [
        {
            "in": "path",
            "name": "code",
            "description": "The zone's code (any case).",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,10}$"},
        }
    ]


@blp.route("")
class Zones(MethodView):
    @blp.response(200, ZoneSchema(many=True))
    @blp.doc(operationId="listZones")
    def get(self) -> Any:
        """List the zones (anyone): quota, monthly fee, open or not, places taken, line length.

        `valid_permits` counts the zone's approved permits valid now; `waitlist_length` the
        permits waiting for a place.
        """
        return cached.list_zones()

    @admin_required(write=True)
    @blp.arguments(ZoneCreateSchema, example={"code": "NORTH", "name": "North", "quota": 100})
    @blp.response(201, ZoneSchema, headers=LOCATION_HEADER)
    @blp.alt_response(409, schema=ErrorSchema, description="A zone with that code exists.")
    @blp.doc(security=ADMIN, operationId="createZone")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a zone (admins). Without `quota` it has no limit; the fee defaults to 0."""
        try:
            zone = service.create_zone(**data)
            view = service.get_zone_view(zone.code)
        except DomainError as exc:
            fail(exc)
        return view, 201, {"Location": url_for("zones.Zone", code=zone.code)}


@blp.route("/<code>", parameters=zone_code_parameter())
class Zone(MethodView):
    @admin_required(write=True)
    @blp.arguments(ZoneUpdateSchema, example={"quota": 120})
    @blp.response(200, ZoneSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No zone with that code.")
    @blp.doc(security=ADMIN, operationId="updateZone")
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Change a zone (admins): name, quota, monthly fee, open.

        Raising the quota gives the new places to the waiting list at once, first come first
        served. Lowering it below the permits it holds revokes nothing: no place is given until
        the count is under the new quota. A new fee applies to validities that start later.
        Closing a zone stops new applications; its permits run their course.
        """
        try:
            zone = service.update_zone(code, **data)
            return service.get_zone_view(zone.code)
        except DomainError as exc:
            fail(exc)


@blp.route("/<code>/waitlist", parameters=zone_code_parameter())
class ZoneWaitlist(MethodView):
    @admin_required()
    @blp.response(200, PermitSchema(many=True))
    @blp.alt_response(404, schema=ErrorSchema, description="No zone with that code.")
    @blp.doc(security=ADMIN, operationId="listZoneWaitlist")
    def get(self, code: str) -> Any:
        """The zone's waiting list in order, first come first (admins and viewers)."""
        try:
            return service.waitlist(code)
        except DomainError as exc:
            fail(exc)
