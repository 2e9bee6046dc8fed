"""HTML pages for residents (apply, follow) and staff (sign in, review, decide)."""

from permit_service.web import admin as _admin  # noqa: F401 - registers the staff views on bp
from permit_service.web.views import bp

__all__ = ["bp"]
