"""JSON API for the monthly reports: the list, and each month's PDF (services.reports)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validates_schema

from permit_service import downloads
from permit_service.api.blueprint import Blueprint
from permit_service.api.openapi import ErrorSchema
from permit_service.api.security import admin_required
from permit_service.services import reports as service

blp = Blueprint("reports", __name__, url_prefix="/reports", description="Monthly reports")

ADMIN = [{"bearerAuth": []}]
F = TypeVar("F", bound=Callable[..., Any])


class NoArgsSchema(Schema):
    """No query parameters: any given is refused (422), as unknown JSON fields are."""

    @validates_schema(pass_original=True)
    def refuse_unknown(self, _: dict[str, Any], original: Any, **__: Any) -> None:
        """Every parameter is unknown here."""
        if original:
            raise ValidationError({name: ["Unknown query parameter."] for name in original})


class ReportSchema(Schema):
    """A stored monthly report."""

    month = fields.String(
        required=True,
        metadata={"example": "2026-11", "description": "The month (YYYY-MM, CITY_TIMEZONE)."},
    )
    created_at = fields.AwareDateTime(
        format="iso", required=True, metadata={"description": "When it was made (last)."}
    )
    url = fields.String(
        required=True,
        metadata={"example": "/reports/2026-11.pdf", "description": "Where its PDF is."},
    )


REPORTS = ReportSchema(many=True)


def readers_only(view: F) -> F:
    """Refuse (403) a valid token whose role may not read reports (runs after admin_required)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("api_user_role") not in service.READERS:
            abort(403, message="Reports are for admins and viewers.")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


_FORBIDDEN = "The token's account may not read reports (only admins and viewers may)."


@blp.route("")
class Reports(MethodView):
    @admin_required()
    @readers_only
    @blp.arguments(NoArgsSchema, location="query")
    @blp.response(200, REPORTS)
    @blp.alt_response(403, schema=ErrorSchema, description=_FORBIDDEN)
    @blp.doc(security=ADMIN, operationId="listReports")
    def get(self, _args: dict[str, Any]) -> Any:
        """List the monthly reports, newest month first (admins and viewers).

        Beat makes the previous month's report on the 1st of each month, early in the morning
        in the city's time zone; `flask reports monthly --month YYYY-MM` makes one on demand
        (again: a month's report is replaced). `url` is where its PDF is served.
        """
        return [
            {"month": r.month, "created_at": r.created_at, "url": service.report_url(r.month)}
            for r in service.list_reports()
        ]


@blp.route(
    "/<month>.pdf",
    parameters=[
        {
            "in": "path",
            "name": "month",
            "description": "The month, YYYY-MM.",
            "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2026-11"},
        }
    ],
)
class ReportPdf(MethodView):
    @admin_required()
    @readers_only
    @blp.arguments(NoArgsSchema, location="query")
    @blp.response(
        200,
        {"type": "string", "format": "binary"},
        content_type="application/pdf",
        description="The report as a PDF.",
    )
    @blp.alt_response(403, schema=ErrorSchema, description=_FORBIDDEN)
    @blp.alt_response(404, schema=ErrorSchema, description="No report of that month.")
    @blp.doc(security=ADMIN, operationId="getReportPdf")
    def get(self, _args: dict[str, Any], month: str) -> Any:
        """A month's report as a PDF (admins and viewers): its counts, the time to decision,
        applications per day (a chart), per zone and per officer."""
        try:
            entry, pdf = service.get_report_pdf(month)
        except service.ReportNotFound as exc:
            abort(404, message=exc.message)
        return downloads.report_pdf(entry, pdf)
