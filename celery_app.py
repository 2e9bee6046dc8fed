"""Celery entry point: `celery -A celery_app worker|beat`."""

import sys

from permit_service import create_app
from permit_service.config import ConfigError

try:
    flask_app = create_app()
except ConfigError as exc:  # what to change, in one line (as wsgi.py says it)
    sys.stderr.write(f"permit_service cannot start: {exc}\n")
    raise SystemExit(3) from None
celery = flask_app.extensions["celery"]
