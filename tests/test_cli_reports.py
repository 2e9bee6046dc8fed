"""`flask reports monthly [--month YYYY-MM]` and Beat's monthly entry (SPEC.md sections 6, 10)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from celery.beat import Scheduler

from permit_service import tasks
from permit_service.extensions import db
from permit_service.models import Notification, Report
from permit_service.services.users import create_user
from tests.report_data import MONTH, ZONE, at, make_march, utc

BERLIN = ZoneInfo(ZONE)


def test_the_command_makes_the_report_and_prints_where_and_the_numbers(app_factory):
    app = app_factory(CITY_TIMEZONE=ZONE, PUBLIC_BASE_URL="https://permits.city.example")
    with app.app_context():
        make_march()
        create_user("boss@city.example", "correct-horse-battery-9", "admin")
    result = app.test_cli_runner().invoke(args=["reports", "monthly", "--month", MONTH])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Report 2026-03 (Europe/Berlin) made: ")
    assert "https://permits.city.example/reports/2026-03.pdf (API)" in lines[0]
    assert "https://permits.city.example/admin/reports" in lines[0]
    assert lines[1].startswith("8 received, 4 approved, 1 waitlisted, 1 places given, 1 refused")
    assert lines[1].endswith("1 applications expired, 1 validities ended")
    assert lines[2] == (
        "time to decision over 6 decisions: median 0:02:30, 90th percentile 0:04:25"
    )
    assert lines[3] == "e-mailed to 1 admin"
    with app.app_context():
        assert db.session.scalar(sa.select(Report.month)) == MONTH
        assert db.session.scalar(sa.select(Notification.recipient)) == "boss@city.example"


def test_without_month_it_reports_the_month_before_in_the_citys_time(app_factory):
    app = app_factory(CITY_TIMEZONE=ZONE)
    # 1 April, 00:30 in Berlin: still 31 March in UTC, yet last month is March.
    with at(utc(2026, 3, 31, 22, 30)):
        result = app.test_cli_runner().invoke(args=["reports", "monthly", "--no-mail"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Report 2026-03 ")
    assert "no e-mail sent (--no-mail)" in result.output


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2026-13", "'2026-13' is not a month: YYYY-MM with a month from 01 to 12."),
        ("March", "'March' is not a month: write it as YYYY-MM, e.g. 2026-03."),
        ("2099-01", "2099-01 has not ended yet: its report can be made from 1 February 2099"),
    ],
)
def test_a_bad_month_is_a_clear_error_with_exit_code_2(app_factory, month, message):
    app = app_factory()
    result = app.test_cli_runner().invoke(args=["reports", "monthly", "--month", month])
    assert result.exit_code == 2
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 0


def test_beat_runs_the_report_on_the_1st_at_0315_city_time_daylight_saving_included(app_factory):
    app = app_factory(CITY_TIMEZONE=ZONE)
    entry = Scheduler(app=app.extensions["celery"]).schedule["monthly-report"]
    assert entry.task == "reports.make_monthly"
    cron = entry.schedule
    last = datetime(2026, 3, 1, 3, 15, tzinfo=BERLIN)  # CET (UTC+1)
    # The next run: 1 April, 03:15 CEST (UTC+2), one second after this.
    cron.nowfun = lambda: datetime(2026, 4, 1, 3, 14, 59, tzinfo=BERLIN)
    due, wait = cron.is_due(last)
    assert not due and wait == pytest.approx(1, abs=1)
    cron.nowfun = lambda: datetime(2026, 4, 1, 3, 15, 1, tzinfo=BERLIN)
    assert cron.is_due(last)[0]
    cron.nowfun = lambda: datetime(2026, 3, 31, 3, 15, 1, tzinfo=BERLIN)
    assert not cron.is_due(last)[0]  # not on other days


def test_beats_task_reports_the_month_before_the_one_it_runs_in(app_factory):
    app = app_factory(CITY_TIMEZONE="Pacific/Auckland")
    with app.app_context():
        # 1 December 2026, 03:15 in Auckland (14:15 UTC on 30 November): November's report.
        with at(utc(2026, 11, 30, 14, 15)):
            assert tasks.make_monthly() == "2026-11"
        assert db.session.scalars(sa.select(Report.month)).all() == ["2026-11"]


def test_beats_schedule_can_be_kept_in_its_file(app_factory):
    """Beat pickles its entries into its schedule file (shelve): a schedule that holds the app
    (crontab(app=...) keeps it) stops Beat at start ("Can't pickle local object")."""
    import pickle

    app = app_factory(CITY_TIMEZONE=ZONE)
    for name, entry in Scheduler(app=app.extensions["celery"]).schedule.items():
        pickle.dumps(entry)  # raises on the old code: the crontab carried the Flask-bound app
        assert name
