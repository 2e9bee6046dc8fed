"""WSGI entry point for gunicorn and `flask`: `gunicorn wsgi:app`."""

import sys

from permit_service import create_app
from permit_service.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # What to change, in one line instead of a traceback, for `flask` commands and gunicorn.
    # Exit status 3 is gunicorn's "worker failed to boot": its master stops instead of
    # starting workers that fail the same way again and again.
    sys.stderr.write(f"permit_service cannot start: {exc}\n")
    raise SystemExit(3) from None
