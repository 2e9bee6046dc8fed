"""Monthly reports (issue 16): the numbers of a known month, the PDF that shows them (read back
with pypdf), its chart, its fonts, making it again, concurrent makers, and the admins' e-mails
sent to a real SMTP server."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pytest
import sqlalchemy as sa
from pypdf.generic import ContentStream

from permit_service import clock
from permit_service.extensions import db
from permit_service.models import Notification, Report
from permit_service.months import InvalidMonth, Month
from permit_service.services import delivery, reports
from permit_service.services import permits as permit_service
from permit_service.services.users import create_user, deactivate_user
from tests.report_data import ALICE, BOB, MONTH, ZONE, at, make_march, utc
from tests.smtp import SmtpServer, html_of, smtp_server, text_of

BERLIN = {"CITY_TIMEZONE": ZONE}
INK = (0.114, 0.208, 0.341)  # the bars' colour (report_pdf.INK)


@pytest.fixture
def march(app_factory: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    """An app in Europe/Berlin whose database holds the known month (tests/report_data.py)."""
    app = app_factory(**BERLIN)
    with app.app_context():
        expected = make_march()
    yield app, expected


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def rows_after(text: str, label: str, count: int) -> list[str]:
    """The `count` lines after `label` in the PDF's text (a table's cells, in order)."""
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index(label)
    return lines[start + 1 : start + 1 + count]


def bars(pdf: bytes) -> list[tuple[float, float]]:
    """(x, height) of every bar of the chart: rectangles filled with the bars' colour."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    found, fill = [], None
    for operands, operator in ContentStream(reader.pages[0].get_contents(), reader).operations:
        if operator == b"rg":
            fill = tuple(round(float(v), 3) for v in operands)
        elif operator == b"re" and fill == INK:
            found.append((float(operands[0]), float(operands[3])))
    return found


# --- months ----------------------------------------------------------------------------------


def test_a_month_runs_from_local_midnight_to_local_midnight_with_daylight_saving() -> None:
    berlin = ZoneInfo(ZONE)
    assert Month(2026, 3).bounds(berlin) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))
    assert Month(2026, 10).bounds(berlin) == (utc(2026, 9, 30, 22), utc(2026, 10, 31, 23))
    start, end = Month(2026, 3).bounds(berlin)
    assert end - start == timedelta(days=31, hours=-1)  # the hour daylight saving takes
    assert Month.of(utc(2026, 3, 31, 22, 0, 1), berlin) == Month(2026, 4)
    assert Month.of(utc(2026, 3, 31, 21, 59, 59), berlin) == Month(2026, 3)
    assert (Month(2026, 1).previous(), Month(2026, 12).next()) == (Month(2025, 12), Month(2027, 1))
    assert len(Month(2028, 2).days()) == 29


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-03", "2026-3", "March", "", "1999-12"])
def test_a_malformed_month_is_refused_saying_how_to_write_one(text: str) -> None:
    with pytest.raises(InvalidMonth, match="YYYY-MM"):
        Month.parse(text)


def test_last_month_is_the_citys_even_where_utc_is_still_in_the_month_before(app_factory):
    app = app_factory(CITY_TIMEZONE="Pacific/Auckland")  # UTC+13 in December
    with app.app_context():
        # 1 December 2026, 03:15 in Auckland is still 30 November in UTC.
        assert str(reports.last_month(utc(2026, 11, 30, 14, 15))) == "2026-11"
        assert str(reports.last_month(utc(2026, 11, 30, 10, 59))) == "2026-10"


# --- the numbers -----------------------------------------------------------------------------


def test_the_numbers_of_a_known_month_count_by_the_citys_month_edges(march):
    app, expected = march
    with app.app_context():
        made = reports.make_monthly_report(MONTH, notify=False)
    numbers = made.numbers
    assert numbers["totals"] == expected["totals"]
    timing = numbers["decision_time"]
    assert timing["decisions"] == expected["decision_time"]["decisions"]
    assert timing["median_seconds"] == pytest.approx(150, abs=1)
    assert timing["p90_seconds"] == pytest.approx(265, abs=1)
    per_day = {int(row["day"][-2:]): row["received"] for row in numbers["per_day"]}
    assert per_day == expected["per_day"]  # 31 days; the 29th had 23 hours
    zones = {row["zone"]: row for row in numbers["zones"]}
    for code, counts in expected["zones"].items():
        assert {k: zones[code][k] for k in counts} == counts
    officers = {row["officer"]: row for row in numbers["officers"]}
    assert set(officers) == {ALICE, BOB}  # the resident and the clock are no officers
    for who, counts in expected["officers"].items():
        assert officers[who]["median_seconds"] == pytest.approx(counts.pop("median"), abs=1)
        assert {k: officers[who][k] for k in counts} == counts
    assert (numbers["start"], numbers["end"]) == (
        "2026-02-28T23:00:00+00:00",
        "2026-03-31T22:00:00+00:00",
    )


def test_a_sweep_recording_the_time_events_later_changes_no_number(march):
    app, expected = march
    with app.app_context():
        assert permit_service.expire_due_permits() >= 4  # E, G, I, J recorded now, in December
        made = reports.make_monthly_report(MONTH, notify=False)
    assert made.numbers["totals"] == expected["totals"]


def test_the_next_month_gets_what_crossed_its_edge(march):
    app, _ = march
    with app.app_context():
        april = reports.make_monthly_report("2026-04", notify=False).numbers
    assert april["totals"]["received"] == 1  # J, 2 s into April local time
    assert april["totals"]["expired"] == 2  # I (deadline 5 min into April) and J
    assert april["per_day"][0] == {"day": "2026-04-01", "received": 1}


# --- the PDF ---------------------------------------------------------------------------------


def test_the_pdf_opens_and_shows_the_months_numbers(march):
    app, expected = march
    with app.app_context():
        reports.make_monthly_report(MONTH, notify=False)
        entry, pdf = reports.get_report_pdf(MONTH)
    assert entry.month == MONTH and pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "Parking permits: monthly report March 2026" in text
    assert "From 1 March 2026, 00:00 CET to 1 April 2026, 00:00 CEST" in text
    totals = expected["totals"]
    counts = rows_after(text, "The month in numbers", 20)
    assert counts[:4] == ["Applications received", str(totals["received"]), "Approved", "4"]
    assert counts[-2:] == ["Validities ended", str(totals["ended"])]
    assert rows_after(text, "Time from application to decision", 6) == [
        "Decisions by officers",
        "6",
        "Median",
        "2 min 30 s",
        "90th percentile",
        "4 min 25 s",
    ]
    assert rows_after(text, "alice@city.example", 7) == [
        "3",
        "1",
        "0",
        "0",
        "0",
        "2 min 00 s",
        "4 min 17 s",
    ]
    assert rows_after(text, "Nordstadt (NORTH)", 7) == ["2", "1", "1", "0", "1", "0", "0"]


def test_the_chart_has_a_bar_for_each_day_with_applications_as_high_as_their_number(march):
    app, expected = march
    with app.app_context():
        reports.make_monthly_report(MONTH, notify=False)
        pdf = reports.get_report_pdf(MONTH)[1]
    found = bars(pdf)
    days_with = sorted(day for day, n in expected["per_day"].items() if n)
    assert len(found) == len(days_with) == 7
    # Bars stand at their day's place on the axis: equally spaced days, from day 1.
    first_x = found[0][0]
    step = (found[-1][0] - first_x) / (days_with[-1] - days_with[0])
    assert [round((x - first_x) / step) + 1 for x, _ in found] == days_with
    heights = {day: h for day, (_, h) in zip(days_with, found, strict=True)}
    assert heights[10] == pytest.approx(2 * heights[1])  # 2 applications on the 10th
    text = pdf_text(pdf)
    assert "Applications per day" in text and "Total 8; busiest day 2" in text
    assert " ".join(str(d) for d in range(1, 32)) in " ".join(text.split())  # the day axis


def test_the_pdf_in_german_embeds_its_fonts_and_prints_umlauts(march):
    app, _ = march
    with app.app_context():
        reports.make_monthly_report(MONTH, language="de", notify=False)
        pdf = reports.get_report_pdf(MONTH)[1]
    text = pdf_text(pdf)
    assert "Parkausweise: Monatsbericht März 2026" in text
    assert "Eingegangene Anträge" in text and "Zeit vom Antrag bis zur Entscheidung" in text
    assert "Ganze Stadt (CITY)" in text  # the built-in zone's name, in the report's language
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert len(fonts) >= 2
    for font in fonts.values():
        font = font.get_object()
        assert "/FontFile2" in font["/FontDescriptor"], font["/BaseFont"]  # embedded TrueType


def test_a_quiet_month_makes_a_report_of_zeros(app_factory):
    app = app_factory(**BERLIN)
    with app.app_context():
        made = reports.make_monthly_report("2026-02", notify=False)
        text = pdf_text(reports.get_report_pdf("2026-02")[1])
    assert set(made.numbers["totals"].values()) == {0}
    assert made.numbers["decision_time"]["median_seconds"] is None
    assert "No application was decided by an officer this month." in text
    assert "No officer decided anything this month." in text


# --- storing ---------------------------------------------------------------------------------


def test_making_a_months_report_again_replaces_it(march):
    app, _ = march
    with app.app_context():
        first = reports.make_monthly_report(MONTH, notify=False)
        with at(utc(2026, 3, 10, 9, 30)):
            permit_service.apply_for_permit("Late", "M-L1", "1 Elm St", zone="CITY")
        clock.advance(timedelta(minutes=1))
        second = reports.make_monthly_report(MONTH, notify=False)
        rows = db.session.execute(sa.select(Report.month, Report.created_at)).all()
    assert second.created_at > first.created_at
    assert second.numbers["totals"]["received"] == first.numbers["totals"]["received"] + 1
    assert rows == [(MONTH, second.created_at)]


def test_a_month_that_has_not_ended_is_refused(app_factory):
    app = app_factory(**BERLIN)
    with app.app_context():
        with at(utc(2026, 3, 31, 21, 59)), pytest.raises(reports.MonthNotOver, match="2026-03"):
            reports.make_monthly_report(MONTH)
        with at(utc(2026, 3, 31, 22, 0, 1)):
            assert reports.make_monthly_report(MONTH, notify=False).month == MONTH
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 1


def test_the_list_is_newest_month_first_and_an_unknown_month_is_not_found(app_factory):
    app = app_factory()
    with app.app_context():
        for month in ("2026-02", "2026-05", "2025-12"):
            reports.make_monthly_report(month, notify=False)
        assert [r.month for r in reports.list_reports()] == ["2026-05", "2026-02", "2025-12"]
        for missing in ("2026-03", "2026-3", "../etc", "2026-02.pdf"):
            with pytest.raises(reports.ReportNotFound):
                reports.get_report_pdf(missing)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_makers_of_the_same_month_at_once_both_succeed_and_one_report_stays(app_factory):
    app = app_factory()
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def make() -> None:
        with app.app_context():
            try:
                start.wait()
                reports.make_monthly_report("2026-01", notify=False)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with app.app_context():
        assert db.session.execute(sa.select(Report.month)).scalars().all() == ["2026-01"]


# --- the admins' e-mails ---------------------------------------------------------------------


def test_every_active_admin_gets_the_pdf_by_email(app_factory):
    with smtp_server() as smtp:
        app = app_factory(**smtp.config(), **BERLIN, PUBLIC_BASE_URL="https://permits.city.example")
        with app.app_context():
            make_march()
            for email, role in [
                ("boss@city.example", "admin"),
                ("second@city.example", "admin"),
                ("gone@city.example", "admin"),
                ("reader@city.example", "viewer"),
            ]:
                create_user(email, "correct-horse-battery-9", role)
            deactivate_user("gone@city.example")
            made = reports.make_monthly_report(MONTH)
            assert made.admins_told == 2
            assert delivery.deliver_due() == 2
            notes = db.session.scalars(sa.select(Notification)).all()
            stored_pdf = reports.get_report_pdf(MONTH)[1]
        messages = smtp.wait_for(2, 10)
    assert all(n.status == "sent" and n.subject_ref == MONTH for n in notes)
    assert sorted(m["To"] for m in messages) == ["boss@city.example", "second@city.example"]
    for message in messages:
        assert message["Subject"] == "Monthly report March 2026 is ready"
        assert "The parking permits' report of March 2026 is attached" in text_of(message)
        assert "https://permits.city.example/admin/reports" in html_of(message)
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_filename() == "permit-report-2026-03.pdf"
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_content() == stored_pdf
        assert "Applications received" in pdf_text(attachment.get_content())


def test_a_german_report_is_announced_in_german(app_factory: Any) -> None:
    smtp: SmtpServer
    with smtp_server() as smtp:
        app = app_factory(**smtp.config(), REPORT_LANGUAGE="de")
        with app.app_context():
            create_user("boss@city.example", "correct-horse-battery-9", "admin")
            reports.make_monthly_report("2026-02")
            assert delivery.deliver_due() == 1
        (message,) = smtp.wait_for(1, 10)
    assert message["Subject"] == "Monatsbericht Februar 2026 liegt vor"
    assert message["Content-Language"] == "de"
    assert "Parkausweise: Monatsbericht Februar 2026" in pdf_text(
        next(message.iter_attachments()).get_content()
    )
