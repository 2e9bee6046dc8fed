"""Celery tasks: thin wrappers around the services. Tasks take ids only."""

from __future__ import annotations

from celery import shared_task

from permit_service.services.permits import expire_due_permits


@shared_task(name="permits.expire_pending", ignore_result=True)
def expire_pending() -> int:
    """Beat's sweep: mark every pending permit past its deadline expired."""
    return expire_due_permits()
