"""Celery tasks: thin wrappers around the services. Tasks take ids only."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from permit_service.db_bounds import background
from permit_service.services.permits import expire_due_permits


@shared_task(name="permits.expire_pending", ignore_result=True)
def expire_pending() -> int:
    """Beat's sweep: mark every pending permit past its deadline expired."""
    # Its own statement timeout (SWEEP_STATEMENT_TIMEOUT), longer than a web request's; the
    # server drops its locks soon after a worker dies mid-sweep (client_connection_check_interval).
    with background(current_app.config["SWEEP_STATEMENT_TIMEOUT"]):
        return expire_due_permits()
