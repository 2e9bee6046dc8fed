"""JSON API for permits: thin views over permit_service.services.permits."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, g, request, url_for
from flask.views import MethodView
from flask_smorest.pagination import _pagination_parameters_schema_factory

from permit_service.api.blueprint import Blueprint, fail, rfc3339_response
from permit_service.api.openapi import LOCATION_HEADER, RATE_LIMIT_HEADERS, ErrorSchema
from permit_service.api.schemas import (
    ApprovalSchema,
    CountSchema,
    NotificationSchema,
    PermitApplicationSchema,
    PermitCountArgsSchema,
    PermitEventSchema,
    PermitListArgsSchema,
    PermitReadSchema,
    PermitSchema,
    RevokeSchema,
    listing_values,
    plain_application,
    plain_list_args,
)
from permit_service.api.security import (
    admin_if_token,
    admin_required,
    current_actor,
    current_actor_or,
    refuse_enforcer_token,
    staff_reader_id,
)
from permit_service.domain import (
    DomainError,
    PermitStatus,
)
from permit_service.extensions import apply_limit, limiter
from permit_service.i18n import DEFAULT_LANGUAGE, LANGUAGES
from permit_service.services import audit, cached, queries
from permit_service.services import permits as service

blp = Blueprint(
    "permits", __name__, url_prefix="/permits", description="Residential parking permits"
)

ADMIN = [{"bearerAuth": []}]
UUID_PATTERN = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)


def permit_id_parameter() -> list[dict[str, Any]]:
    """The {permit_id} path parameter's documentation (a fresh copy: smorest updates it).

    Only the id (a UUID): the short reference is for people on the phone and is guessable, so
    it never opens a permit to an anonymous caller. Anything else is a 404.
    """
    return [
        {
            "in": "path",
            "name": "permit_id",
            "description": "The permit's id (UUID4), the resident's receipt.",
            "schema": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
        }
    ]


APPLICATION_EXAMPLE = {
    "name": "John Doe",
    "license_plate": "ABC-123",
    "address": "123 Main St",
    "email": "john@example.org",
}


LIST_PAGE_SIZE, LIST_MAX_PAGE_SIZE = 50, 500
# The page arguments' schema, as `blp.paginate` builds it for the listing (the same bounds).
_LIST_PAGES = _pagination_parameters_schema_factory(1, LIST_PAGE_SIZE, LIST_MAX_PAGE_SIZE)


def _list_page(args: dict[str, Any], pagination: Any) -> queries.Page:
    status = PermitStatus(args["status"]) if args.get("status") else None
    return queries.list_permits(
        status=status,
        license_plate=args.get("license_plate"),
        zone=args.get("zone"),
        created_from=args.get("created_from"),
        created_to=args.get("created_to"),
        sort=args.get("sort") or queries.DEFAULT_SORT,
        page=pagination.page,
        page_size=pagination.page_size,
    )


def _answer_list(args: dict[str, Any]) -> Any:
    """What the listing answers through flask-smorest's response and pagination wrappers (the
    PermitSchema dump, jsonify'd, with the same X-Pagination header), for a plainly valid query
    and page, without them (issue 17); None leaves anything else to them."""
    pagination = blp.PAGINATION_ARGUMENTS_PARSER.plain(_LIST_PAGES, request.args)
    if pagination is None:
        return None
    page = _list_page(args, pagination)
    meta = blp._make_pagination_metadata(pagination.page, pagination.page_size, page.total)
    # smorest writes the header with the stdlib's json.dumps (its default separators).
    header = {blp.PAGINATION_HEADER_NAME: json.dumps(meta)}
    answered = rfc3339_response(listing_values(page.items), header)
    if answered is None:  # an app that does not encode with orjson: the schema's dump
        answered = current_app.json.response(PermitSchema(many=True).dump(page.items))
        answered.headers.extend(header)
    return answered


@blp.route("")
class Permits(MethodView):
    @refuse_enforcer_token()
    @limiter.limit(apply_limit)  # per client address (RATELIMIT_APPLY); 429 with Retry-After
    # A plainly valid body is read directly; anything else by the schema (same 400s, 422s).
    @blp.body_arguments(PermitApplicationSchema, plain_application, example=APPLICATION_EXAMPLE)
    @blp.response(
        201,
        PermitSchema,
        description="The application was recorded as pending.",
        headers=LOCATION_HEADER | RATE_LIMIT_HEADERS,
    )
    @blp.alt_response(
        409,
        schema=ErrorSchema,
        description="The plate already has a pending or approved permit.",
        headers=RATE_LIMIT_HEADERS,
    )
    @blp.alt_response(429, response="RATE_LIMITED")
    @blp.doc(operationId="applyForPermit")
    def post(self, data: dict[str, Any]) -> Any:
        """Apply for a permit.

        Records a pending application in `zone` (optional while exactly one zone is open).
        It must be approved before `expires_at`, or it expires.
        The returned `id` is the applicant's receipt: anyone holding it can read the permit.
        """
        try:
            # The e-mails speak the language the client asks for (Accept-Language), else English.
            language = request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LANGUAGE
            # The answer is dumped from the inserted values: no ORM object (issue 17).
            permit = service.record_application(**data, language=language)
        except DomainError as exc:
            fail(exc)
        return permit, 201, {"Location": url_for("permits.Permit", permit_id=permit["id"])}

    @admin_required()
    # A plainly valid query (and page) is read directly and answered by _answer_list.
    @blp.query_arguments(PermitListArgsSchema, plain_list_args, answer=_answer_list)
    @blp.response(200, PermitSchema(many=True))
    @blp.paginate(page_size=LIST_PAGE_SIZE, max_page_size=LIST_MAX_PAGE_SIZE)
    @blp.doc(security=ADMIN, operationId="listPermits")
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List permits, newest first unless `sort` says otherwise (admins and viewers).

        Filter by `status` (effective: a pending permit past its deadline, and an approved one
        past its `valid_until`, are listed as expired), by `license_plate` in any spelling, by
        `zone`, and by the time of application (`created_from` inclusive, `created_to`
        exclusive). Pagination metadata is in `X-Pagination`.
        """
        page = _list_page(args, pagination_parameters)
        pagination_parameters.item_count = page.total
        return page.items


@blp.route("/count")
class PermitCount(MethodView):
    @admin_required()
    @blp.arguments(PermitCountArgsSchema, location="query")
    @blp.response(200, CountSchema)
    @blp.doc(security=ADMIN, operationId="countPermits")
    def get(self, args: dict[str, Any]) -> Any:
        """Count permits (admins and viewers), with the listing's filters.

        Exact like the listing: a pending permit past its deadline, and an approved permit past
        its `valid_until`, count as expired at once, before any sweep.
        """
        status = PermitStatus(args["status"]) if args.get("status") else None
        count = queries.count_permits(
            status,
            args.get("license_plate"),
            args.get("zone"),
            args.get("created_from"),
            args.get("created_to"),
        )
        return {"count": count}


@blp.route("/<permit_id>", parameters=permit_id_parameter())
class Permit(MethodView):
    @refuse_enforcer_token()
    @blp.response(200, PermitSchema)
    @blp.alt_response(404, response="PERMIT_NOT_FOUND")
    @blp.doc(operationId="getPermit")
    def get(self, permit_id: str) -> Any:
        """Read one permit by its id (the applicant's receipt).

        A read with a staff bearer token is recorded in the read audit (who, when); a read
        without one is the resident's own and is not.
        """
        reader = staff_reader_id()
        if reader is not None:
            audit.record_read(reader, audit.ReadKind.API_PERMIT, permit_id)
        try:
            return cached.read_permit(permit_id)  # the stored row, cached; status exact now
        except DomainError as exc:
            fail(exc)


@blp.route("/<permit_id>/approve", parameters=permit_id_parameter())
class PermitApproval(MethodView):
    @admin_required(write=True)
    @blp.arguments(ApprovalSchema, required=False, example={})
    @blp.response(200, PermitSchema)
    @blp.alt_response(404, response="PERMIT_NOT_FOUND")
    @blp.alt_response(409, schema=ErrorSchema, description="The permit is revoked or expired.")
    @blp.doc(security=ADMIN, operationId="approvePermit")
    def post(self, data: dict[str, Any], permit_id: str) -> Any:
        """Approve a pending permit (admins). Approving an approved permit changes nothing.

        When the zone's valid approved permits have reached its quota the permit becomes
        `waitlisted` instead, with its `waitlist_position`; it gets the next free place, first
        come first served (then its validity starts, with the default length). Approving a
        waitlisted permit changes nothing.

        The validity starts now and ends at the end of the local day PERMIT_VALIDITY_DAYS
        (default 365) ahead, or at the optional `valid_until` (a future date or date-time, at
        most that far ahead; else 422).
        """
        try:
            return service.approve_permit(
                permit_id, actor=current_actor(), valid_until=(data or {}).get("valid_until")
            ).permit
        except DomainError as exc:
            fail(exc)


@blp.route("/<permit_id>/revoke", parameters=permit_id_parameter())
class PermitRevocation(MethodView):
    @admin_required(write=True)
    @blp.arguments(RevokeSchema, required=False, example={"reason": "Moved out of the zone"})
    @blp.response(200, PermitSchema)
    @blp.alt_response(404, response="PERMIT_NOT_FOUND")
    @blp.alt_response(409, schema=ErrorSchema, description="The permit is expired.")
    @blp.doc(security=ADMIN, operationId="revokePermit")
    def post(self, data: dict[str, Any], permit_id: str) -> Any:
        """Revoke a pending or approved permit (admins), with an optional reason.

        The reason is shown to the resident on the receipt: one line of plain text, at most
        500 characters (the same rule as the staff pages). Revoking a revoked permit changes
        nothing.
        """
        try:
            permit = service.revoke_permit(
                permit_id, actor=current_actor(), reason=(data or {}).get("reason")
            ).permit
        except DomainError as exc:
            fail(exc)
        return permit


@blp.route("/<permit_id>/cancel", parameters=permit_id_parameter())
class PermitCancellation(MethodView):
    @refuse_enforcer_token()
    @blp.response(200, PermitSchema)
    @blp.alt_response(404, response="PERMIT_NOT_FOUND")
    @blp.alt_response(409, schema=ErrorSchema, description="The permit is expired.")
    @blp.doc(operationId="cancelPermit")
    def post(self, permit_id: str) -> Any:
        """Cancel a permit or an application (anyone holding its id: the resident).

        Ends it at once: the status becomes `revoked`, recorded with actor `applicant` and the
        reason "cancelled by the resident". Cancelling a revoked permit changes nothing.
        """
        try:
            return service.cancel_permit(permit_id).permit
        except DomainError as exc:
            fail(exc)


@blp.route("/<permit_id>/renew", parameters=permit_id_parameter())
class PermitRenewal(MethodView):
    @admin_if_token()
    @blp.response(200, PermitSchema)
    @blp.alt_response(404, response="PERMIT_NOT_FOUND")
    @blp.alt_response(
        409,
        schema=ErrorSchema,
        description="Outside the renewal window (the message names the date it opens), or the "
        "permit is not approved (once expired: apply again).",
    )
    @blp.doc(operationId="renewPermit")
    def post(self, permit_id: str) -> Any:
        """Renew an approved permit inside its renewal window (the resident, or an admin).

        Anyone holding the id may renew, without a token (recorded as `applicant`); with an
        admin's bearer token the admin is recorded. The new `valid_until` is the end of the
        local day PERMIT_VALIDITY_DAYS after the old one's date: no gap, no overlap. The window
        is the last RENEWAL_WINDOW_DAYS (default 30) of the validity.
        """
        try:
            actor = current_actor_or(service.APPLICANT_ACTOR)
            return service.renew_permit(permit_id, actor=actor).permit
        except DomainError as exc:
            fail(exc)


@blp.route("/<permit_id>/events", parameters=permit_id_parameter())
class PermitEvents(MethodView):
    @admin_required()
    @blp.response(200, PermitEventSchema(many=True))
    @blp.alt_response(404, response="PERMIT_NOT_FOUND")
    @blp.doc(security=ADMIN, operationId="listPermitEvents")
    def get(self, permit_id: str) -> Any:
        """The permit's history, oldest first: who changed its status, when and why.

        Each read is recorded in the read audit (`GET /permits/{id}/reads`).
        """
        audit.record_read(g.api_user_id, audit.ReadKind.API_EVENTS, permit_id)
        try:
            return queries.list_events(permit_id)
        except DomainError as exc:
            fail(exc)


@blp.route("/<permit_id>/notifications", parameters=permit_id_parameter())
class PermitNotifications(MethodView):
    @admin_required()
    @blp.response(200, NotificationSchema(many=True))
    @blp.alt_response(404, response="PERMIT_NOT_FOUND")
    @blp.doc(security=ADMIN, operationId="listPermitNotifications")
    def get(self, permit_id: str) -> Any:
        """The e-mails to the permit's resident, oldest first, with their delivery state.

        `status` is `queued` while a message waits to be sent or retried (with backoff, up to
        MAIL_MAX_ATTEMPTS attempts), `sent` once the mail server accepted it, `failed` after
        the last attempt (`flask notifications retry-failed` queues failed ones again).
        Each read is recorded in the read audit.
        """
        audit.record_read(g.api_user_id, audit.ReadKind.API_NOTIFICATIONS, permit_id)
        try:
            return queries.list_notifications(permit_id)
        except DomainError as exc:
            fail(exc)


@blp.route("/<permit_id>/reads", parameters=permit_id_parameter())
class PermitReads(MethodView):
    @admin_required(write=True)
    @blp.response(200, PermitReadSchema(many=True))
    @blp.alt_response(404, response="PERMIT_NOT_FOUND")
    @blp.doc(security=ADMIN, operationId="listPermitReads")
    def get(self, permit_id: str) -> Any:
        """The read audit of the permit, oldest first: which staff member read its details,
        history or e-mails, when, and how (admins only). Entries older than RETENTION_DAYS
        are deleted."""
        try:
            permit = queries.get_permit(permit_id)
        except DomainError as exc:
            fail(exc)
        return audit.list_reads(permit.id)
