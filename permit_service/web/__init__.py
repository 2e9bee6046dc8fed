"""HTML pages: two blueprints, residents' pages (`web`) and staff pages under /admin (`admin`)."""

from __future__ import annotations

from flask import Flask


def register_web_blueprints(app: Flask) -> None:
    """Mount the residents' pages and the staff pages (their errors are HTML pages)."""
    from permit_service.web import (
        exports,  # noqa: F401 - adds the exports' pages to `admin`
        queue,  # noqa: F401 - adds the review queue to `admin`
        receipt,  # noqa: F401 - adds the receipt's routes to `web`
        reports,  # noqa: F401 - adds the monthly reports' page to `admin`
        zones,  # noqa: F401 - adds the zones' pages to `admin`
    )
    from permit_service.web.admin import bp as staff_bp
    from permit_service.web.views import bp as residents_bp

    app.register_blueprint(residents_bp)
    app.register_blueprint(staff_bp)
