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


def test_nightly_retention_runs_at_its_local_time_in_the_city_s_time_zone(app_factory):
    from datetime import UTC, datetime

    app = app_factory(CITY_TIMEZONE="Europe/Berlin", RETENTION_AT=(3, 30))
    celery = app.extensions["celery"]
    scheduler = Scheduler(app=celery)
    entry = scheduler.schedule["anonymise-ended-permits"]
    assert entry.task == "permits.anonymise"
    assert (entry.schedule.hour, entry.schedule.minute) == ({3}, {30})
    assert str(entry.schedule.tz) == "Europe/Berlin"
    # Last run at 03:30 Berlin time in winter (02:30 UTC), in summer 01:30 UTC: the next is
    # 24 hours later in both, at 03:30 local, whatever the UTC offset.
    for last in (datetime(2026, 12, 3, 2, 30, tzinfo=UTC), datetime(2026, 7, 3, 1, 30, tzinfo=UTC)):
        local = last.astimezone(entry.schedule.tz)
        assert (local.hour, local.minute) == (3, 30)
        delta = entry.schedule.remaining_delta(local)
        assert (delta[0] + delta[1]).astimezone(entry.schedule.tz).strftime("%H:%M") == "03:30"


def test_retention_time_of_day_is_checked_at_start(tmp_path):
    import pytest

    from permit_service.config import ConfigError, load_config

    env = {"RETENTION_AT": "25:00"}
    with pytest.raises(ConfigError, match="RETENTION_AT"):
        load_config(str(tmp_path), env=env)
    assert load_config(str(tmp_path), env={"RETENTION_AT": "4:05"})["RETENTION_AT"] == (4, 5)
    assert load_config(str(tmp_path), env={})["RETENTION_DAYS"] == 730
