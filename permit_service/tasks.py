"""Celery tasks: thin wrappers around the services. Tasks take ids only."""

from __future__ import annotations

from celery import Task, shared_task
from flask import current_app

from permit_service.db_bounds import background
from permit_service.services import delivery, exports, reports, retention
from permit_service.services.permits import expire_due_permits


@shared_task(name="permits.expire_pending", ignore_result=True)
def expire_pending() -> int:
    """Beat's sweep: mark every pending permit past its deadline expired."""
    # Its own statement timeout (SWEEP_STATEMENT_TIMEOUT), longer than a web request's; the
    # server drops its locks soon after a worker dies mid-sweep (client_connection_check_interval).
    with background(current_app.config["SWEEP_STATEMENT_TIMEOUT"]):
        count = expire_due_permits()
        exports.tidy_exports()  # old exports deleted, lost export runs picked up
        return count


@shared_task(name="permits.anonymise", ignore_result=True)
def anonymise() -> int:
    """Beat's nightly retention: anonymise permits that ended over RETENTION_DAYS ago."""
    with background(current_app.config["SWEEP_STATEMENT_TIMEOUT"]):
        return retention.anonymise_ended().permits


@shared_task(name="notifications.send", bind=True, ignore_result=True, max_retries=None)
def send(self: Task, notification_id: int) -> str | None:
    """Send one notification; a failed attempt retries itself after its backoff."""
    attempt = delivery.send_notification(notification_id)
    if attempt.retry_in is not None:
        # If this retry is lost (broker down, worker gone), the sweep's delivery picks it up.
        raise self.retry(countdown=attempt.retry_in)
    return attempt.status.value if attempt.status is not None else None


@shared_task(name="notifications.deliver", ignore_result=True)
def deliver() -> int:
    """Send every queued notification whose time has come (the sweep asks for this)."""
    return delivery.deliver_due()


@shared_task(name="exports.run", ignore_result=True)
def run_export(export_id: str) -> str | None:
    """Write one export's CSV (services.exports.run_export); a no-op unless it is queued."""
    # Batches are short statements; the sweep's longer timeout covers a slow filter on a big table.
    with background(current_app.config["SWEEP_STATEMENT_TIMEOUT"]):
        return exports.run_export(export_id)


@shared_task(name="reports.make_monthly", ignore_result=True)
def make_monthly(month: str | None = None) -> str:
    """Beat, on the 1st: make last month's report (in the city's time) and e-mail the admins."""
    with background(current_app.config["SWEEP_STATEMENT_TIMEOUT"]):
        return reports.make_monthly_report(month).month
