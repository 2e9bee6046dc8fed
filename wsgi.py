"""WSGI entry point for gunicorn and `flask`: `gunicorn wsgi:app`."""

from permit_service import create_app

app = create_app()
