"""Files that the API and the pages both hand out, with the same headers: an export's CSV and
a month's report as a PDF. Thin over the services; the views decide who may have them."""

from __future__ import annotations

from typing import Any

from flask import Response, stream_with_context

from permit_service.services import exports


def export_csv(export: Any) -> Response:
    """The export's CSV streamed chunk by chunk, as an attachment (never kept by a cache: it
    holds residents' personal data)."""
    response = Response(
        stream_with_context(exports.iter_csv(export.id)), mimetype="text/csv; charset=utf-8"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{exports.filename(export)}"'
    response.headers["Content-Length"] = str(export.size)
    response.headers["Cache-Control"] = "no-store"
    return response


def report_pdf(entry: Any, pdf: bytes) -> Response:
    """A month's report, shown in the browser and saved under its month's name."""
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="permit-report-{entry.month}.pdf"',
            "Cache-Control": "private, no-cache",
        },
    )
