"""HTML pages for residents (apply, follow) and staff (sign in, review, decide)."""

from permit_service.web.views import bp

__all__ = ["bp"]
