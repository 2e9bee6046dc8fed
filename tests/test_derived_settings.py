"""Settings derived from others are computed after create_app's overrides are applied."""

from __future__ import annotations

from datetime import timedelta

from celery.beat import Scheduler


def test_sweep_interval_given_to_create_app_reaches_beat(app_factory):
    app = app_factory(EXPIRY_SWEEP_SECONDS=1)
    scheduler = Scheduler(app=app.extensions["celery"])  # what `celery beat` schedules from
    entry = scheduler.schedule["expire-pending-permits"]
    assert entry.task == "permits.expire_pending"
    assert entry.schedule.run_every == timedelta(seconds=1)
    assert entry.options["expires"] == 1.0


def test_session_cookie_lasts_no_longer_than_a_staff_session(app_factory):
    app = app_factory(SESSION_MAX_SECONDS=3600)
    assert app.permanent_session_lifetime == timedelta(hours=1)
