"""JSON API for CSV exports (SPEC.md section 10): thin views over services.exports.

Admins and viewers may export (and only they: an enforcer's token is refused, 403). A viewer
sees only the exports they asked for: an export holds residents' personal data and is the
requester's; another's is a 404, as if it did not exist. Admins see every export.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request, url_for
from flask.views import MethodView
from flask_smorest import abort

from permit_service import downloads
from permit_service.api import security
from permit_service.api.blueprint import Blueprint, fail
from permit_service.api.openapi import ErrorSchema, _header
from permit_service.api.schemas import ExportRequestSchema, ExportSchema
from permit_service.domain import DomainError, PermitStatus
from permit_service.i18n import DEFAULT_LANGUAGE, LANGUAGES
from permit_service.services import exports as service

F = TypeVar("F", bound=Callable[..., Any])

blp = Blueprint("exports", __name__, url_prefix="/exports", description="CSV exports of permits")

STAFF = [{"bearerAuth": []}]
EXPORT_ROLES = security.STAFF  # what admin_required() admits (SPEC.md section 4: not enforcers)
EXPORT_LOCATION = {
    "Location": _header("Where the export's progress can be read.", "string", format="uri")
}


def export_id_parameter() -> list[dict[str, Any]]:
    """The {export_id} path parameter's documentation (a fresh copy: smorest updates it)."""
    return [
        {
            "in": "path",
            "name": "export_id",
            "description": "The export's id (a UUID), from `POST /exports`.",
            "schema": {"type": "string", "format": "uuid"},
        }
    ]


def exporter_required() -> Callable[[F], F]:
    """A staff token whose role may export: admin_required() admits exactly EXPORT_ROLES (401
    without a token, 403 for any other role); documented with the exporters' refusal."""

    def decorator(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        return security.admin_required()(
            security.documented(checked, view, "EXPORTER_REQUIRED", None)
        )

    return decorator


def _requester() -> service.Requester:
    return service.Requester(int(g.api_user_id), g.api_user_role == "admin")


def _not_found(exc: DomainError) -> None:
    if isinstance(exc, service.ExportNotFound):
        abort(404, message=exc.message)
    if isinstance(exc, service.ExportNotReady):
        abort(409, message=exc.message)
    fail(exc)


@blp.route("")
class Exports(MethodView):
    @exporter_required()
    @blp.arguments(
        ExportRequestSchema, required=False, example={"status": "approved", "zone": "CITY"}
    )
    @blp.response(
        202,
        ExportSchema,
        description="The export is queued: a worker writes it.",
        headers=EXPORT_LOCATION,
    )
    @blp.doc(security=STAFF, operationId="createExport")
    def post(self, data: dict[str, Any] | None) -> Any:
        """Export permits as CSV (admins and viewers), with the listing's filters.

        `status` (effective, as the listing shows it), `zone`, `created_from` (inclusive) and
        `created_to` (exclusive), all optional; no filter (or no body) exports every permit.
        A worker writes the CSV in the background: follow `GET /exports/{id}` (the
        `Location` header) until `status` is `done`, then download it. The requester gets an
        e-mail when it is ready. Exports are deleted EXPORT_RETENTION_DAYS (default 7) after
        they were asked for.
        """
        language = request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LANGUAGE
        data = data or {}  # no body: every permit
        try:
            export = service.request_export(
                _requester(),
                status=PermitStatus(data["status"]) if data.get("status") else None,
                zone=data.get("zone"),
                created_from=data.get("created_from"),
                created_to=data.get("created_to"),
                language=language,
            )
        except DomainError as exc:
            fail(exc)
        location = url_for("exports.Export", export_id=export.id)
        return export, 202, {"Location": location}


@blp.route("/<export_id>", parameters=export_id_parameter())
class Export(MethodView):
    @exporter_required()
    @blp.response(200, ExportSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No export with that id for you.")
    @blp.doc(security=STAFF, operationId="getExport")
    def get(self, export_id: str) -> Any:
        """An export's progress (admins: any export; viewers: their own).

        `rows` grows while it runs; `download_url` is set once it is `done`.
        """
        try:
            return service.get_export(export_id, _requester())
        except DomainError as exc:
            _not_found(exc)


@blp.route("/<export_id>/download", parameters=export_id_parameter())
class ExportDownload(MethodView):
    @exporter_required()
    @blp.response(
        200,
        {"type": "string", "format": "binary"},
        content_type="text/csv",
        description="The CSV (UTF-8, header row), as an attachment.",
    )
    @blp.alt_response(404, schema=ErrorSchema, description="No export with that id for you.")
    @blp.alt_response(409, schema=ErrorSchema, description="The export is not done (or failed).")
    @blp.doc(security=STAFF, operationId="downloadExport")
    def get(self, export_id: str) -> Any:
        """Download a finished export as CSV (admins: any export; viewers: their own).

        Columns: id, reference, license_plate, name, address, email, zone, status, created_at,
        decided_at, valid_from, valid_until, fee, currency. Statuses are those at the time of
        the export. A cell that a spreadsheet would read as a formula (starting with =, +, -,
        @, a tab or a carriage return) starts with an apostrophe.
        """
        try:
            export = service.ready_export(export_id, _requester())
        except DomainError as exc:
            _not_found(exc)
        return downloads.export_csv(export)
