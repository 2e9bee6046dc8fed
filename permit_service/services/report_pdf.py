"""The monthly report as a PDF (ReportLab): its numbers (services.report_numbers) on paper.

Text is set in Bitstream Vera, the TrueType family ReportLab ships, embedded (as a subset) in
the file: umlauts and every other character the strings use print the same in any reader,
unlike the 14 standard fonts, which are not embedded and know only one 8-bit encoding. Every
string is translatable; the report speaks the language it is made in (REPORT_LANGUAGE).
ReportLab is imported here only, and this module only where a report is made.
"""

from __future__ import annotations

import io
import os
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from flask import g
from flask_babel import force_locale, gettext
from reportlab import rl_config
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether

from permit_service.domain import N_
from permit_service.localtime import cldr_locale, long_time
from permit_service.models import DEFAULT_ZONE, DEFAULT_ZONE_NAME
from permit_service.months import Month
from permit_service.services.report_numbers import COUNTS, OFFICER_COUNTS, ZONE_COUNTS

FONT, BOLD = "Vera", "Vera-Bold"
# Dark blue of the pages' header, and the table lines.
INK = colors.HexColor("#1d3557")
RULE = colors.HexColor("#9aa5b1")
STRIPE = colors.HexColor("#eef2f6")

# The counts, as the report names them.
COUNT_LABELS = {
    "received": N_("Applications received"),
    "approved": N_("Approved"),
    "waitlisted": N_("Put on a waiting list (zone full)"),
    "places_given": N_("Places given from a waiting list"),
    "refused": N_("Refused"),
    "revoked": N_("Revoked"),
    "cancelled": N_("Withdrawn or ended by residents"),
    "renewed": N_("Renewed"),
    "expired": N_("Applications expired (not decided in time)"),
    "ended": N_("Validities ended"),
}
# Short column heads of the per-zone and per-officer tables.
COLUMN_LABELS = {
    "received": N_("Received"),
    "approved": N_("Approved"),
    "waitlisted": N_("Waitlisted"),
    "refused": N_("Refused"),
    "revoked": N_("Revoked"),
    "renewed": N_("Renewed"),
    "expired": N_("Expired"),
    "ended": N_("Ended"),
}


def _register_fonts() -> None:
    """Vera from ReportLab's own fonts folder (once per process)."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = os.path.join(os.path.dirname(rl_config.__file__), "fonts")
    pdfmetrics.registerFont(TTFont(FONT, os.path.join(folder, "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, os.path.join(folder, "VeraBd.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


def duration_text(seconds: float | None) -> str:
    """A decision time for people: '2 min 30 s', '3 h 05 min', '2 d 4 h' ('—' for none)."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return gettext("%(d)d d %(h)d h", d=days, h=hours)
    if hours:
        return gettext("%(h)d h %(m)02d min", h=hours, m=minutes)
    if minutes:
        return gettext("%(m)d min %(s)02d s", m=minutes, s=secs)
    return gettext("%(s)d s", s=secs)


def render_report(numbers: dict[str, Any], language: str) -> bytes:
    """The report of `numbers` (report_numbers.month_numbers) as PDF bytes, in `language`."""
    _register_fonts()
    # Flask-Babel's force_locale does nothing while `g` is empty (a worker's fresh context).
    g.report_language = language
    with force_locale(language):
        return _render(numbers, language)


def _render(numbers: dict[str, Any], language: str) -> bytes:
    locale = cldr_locale(language)
    month = Month.parse(numbers["month"])
    zone = ZoneInfo(numbers["timezone"])
    start, end = (datetime.fromisoformat(numbers[k]) for k in ("start", "end"))
    month_words = format_date(month.first_day, "LLLL y", locale=locale)
    title = gettext("Parking permits: monthly report %(month)s", month=month_words)

    def number(n: int) -> str:
        return format_decimal(n, locale=locale)

    def when(moment: datetime) -> str:
        return long_time(moment, language=language, zone=zone)

    story: list[Any] = [
        Paragraph(title, STYLES["title"]),
        Paragraph(
            gettext(
                "From %(start)s to %(end)s (times in %(zone)s). Made %(made)s.",
                start=when(start),
                end=when(end),
                zone=zone.key,
                made=when(datetime.fromisoformat(numbers["as_of"])),
            ),
            STYLES["small"],
        ),
        Spacer(1, 4 * mm),
        _heading(gettext("The month in numbers")),
        _table(
            [[gettext(COUNT_LABELS[k]), number(numbers["totals"][k])] for k in COUNTS],
            widths=[110 * mm, 30 * mm],
        ),
        Spacer(1, 4 * mm),
        _heading(gettext("Time from application to decision")),
        _decision_time(numbers["decision_time"], number),
        Spacer(1, 4 * mm),
        KeepTogether(
            [_heading(gettext("Applications per day")), _chart(numbers["per_day"], number)]
        ),
        Spacer(1, 4 * mm),
        _heading(gettext("Per zone")),
        _zone_table(numbers["zones"], number),
        Spacer(1, 4 * mm),
        _heading(gettext("Per officer")),
        _officer_table(numbers["officers"], number),
    ]
    out = io.BytesIO()
    page = gettext("Page %(n)s")
    footer = gettext("City parking permit office · %(month)s", month=month_words)

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(RULE)
        canvas.drawString(18 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, page % {"n": doc.page})
        canvas.restoreState()

    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=title,
        author=gettext("City parking permit office"),
        subject=numbers["month"],
        lang=language,
        initialFontName=FONT,  # else the canvas starts in Helvetica, a font not embedded
    )
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return out.getvalue()


STYLES = {
    "title": ParagraphStyle("title", fontName=BOLD, fontSize=17, leading=21, textColor=INK),
    "heading": ParagraphStyle(
        "heading", fontName=BOLD, fontSize=11.5, leading=15, textColor=INK, spaceAfter=2 * mm
    ),
    "body": ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13),
    "small": ParagraphStyle("small", fontName=FONT, fontSize=8.5, leading=11.5),
    "head": ParagraphStyle(
        "head",
        fontName=BOLD,
        fontSize=7,
        leading=9,
        textColor=INK,
        alignment=TA_RIGHT,
        splitLongWords=0,  # a head wraps between words, never inside one
    ),
    "head_left": ParagraphStyle("head_left", fontName=BOLD, fontSize=7, leading=9, textColor=INK),
}


def _heading(text: str) -> Paragraph:
    return Paragraph(text, STYLES["heading"])


def _table(rows: list[list[str]], widths: list[float], head: list[str] | None = None) -> Table:
    """A striped table; numbers right-aligned (every column but the first)."""
    heads = [
        Paragraph(text, STYLES["head_left" if i == 0 else "head"])
        for i, text in enumerate(head or [])
    ]
    data = ([heads] if head else []) + rows
    table = Table(data, colWidths=widths, hAlign="LEFT", repeatRows=1 if head else 0)
    style = [
        ("FONT", (0, 0), (-1, -1), FONT, 9),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    if head:
        style += [("VALIGN", (0, 0), (-1, 0), "BOTTOM")]
    first = 1 if head else 0
    style += [("BACKGROUND", (0, r), (-1, r), STRIPE) for r in range(first, len(data), 2)]
    table.setStyle(TableStyle(style))
    return table


def _decision_time(timing: dict[str, Any], number: Any) -> Any:
    if not timing["decisions"]:
        none = gettext("No application was decided by an officer this month.")
        return Paragraph(none, STYLES["body"])
    return _table(
        [
            [gettext("Decisions by officers"), number(timing["decisions"])],
            [gettext("Median"), duration_text(timing["median_seconds"])],
            [gettext("90th percentile"), duration_text(timing["p90_seconds"])],
        ],
        widths=[110 * mm, 30 * mm],
    )


def _chart(per_day: list[dict[str, Any]], number: Any) -> Drawing:
    """A bar per local day of the month: how many applications arrived that day."""
    values = [row["received"] for row in per_day]
    width, height = 174 * mm, 62 * mm
    drawing = Drawing(width, height, initialFontName=FONT)  # no Helvetica (not embedded)
    chart = VerticalBarChart()
    chart.x, chart.y = 12 * mm, 10 * mm
    chart.width, chart.height = width - 16 * mm, height - 16 * mm
    chart.data = [values]
    chart.categoryAxis.categoryNames = [str(date.fromisoformat(r["day"]).day) for r in per_day]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 6.5
    chart.categoryAxis.labels.dy = -2
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = number
    chart.valueAxis.valueMin = 0
    top = max(values, default=0)
    if top < 5:  # whole numbers on the axis of a quiet month
        chart.valueAxis.valueMax = 5
        chart.valueAxis.valueStep = 1
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = STRIPE
    chart.bars[0].fillColor = INK
    chart.bars[0].strokeColor = None
    chart.barSpacing = 0.5
    drawing.add(chart)
    caption = gettext("Total %(n)s; busiest day %(top)s", n=number(sum(values)), top=number(top))
    drawing.add(
        String(
            width - 2 * mm, height - 4 * mm, caption, fontName=FONT, fontSize=7.5, textAnchor="end"
        )
    )
    return drawing


def _zone_name(row: dict[str, Any]) -> str:
    """The built-in zone's name in the report's language until it is renamed (as on pages)."""
    if row["zone"] == DEFAULT_ZONE and row["name"] == DEFAULT_ZONE_NAME:
        return gettext("Whole city")
    return str(row["name"])


def _zone_table(rows: list[dict[str, Any]], number: Any) -> Table:
    head = [gettext("Zone")] + [gettext(COLUMN_LABELS[k]) for k in ZONE_COUNTS]
    body = [
        [Paragraph(f"{_escape(_zone_name(r))} ({r['zone']})", STYLES["small"])]
        + [number(r[k]) for k in ZONE_COUNTS]
        for r in rows
    ]
    first = 174 * mm - 19.5 * mm * len(ZONE_COUNTS)
    return _table(body, widths=[first] + [19.5 * mm] * len(ZONE_COUNTS), head=head)


def _officer_table(rows: list[dict[str, Any]], number: Any) -> Any:
    if not rows:
        return Paragraph(gettext("No officer decided anything this month."), STYLES["body"])
    head = (
        [gettext("Officer")]
        + [gettext(COLUMN_LABELS[k]) for k in OFFICER_COUNTS]
        + [gettext("Median"), gettext("90th pct.")]
    )
    body = [
        [Paragraph(_escape(r["officer"]), STYLES["small"])]
        + [number(r[k]) for k in OFFICER_COUNTS]
        + [duration_text(r["median_seconds"]), duration_text(r["p90_seconds"])]
        for r in rows
    ]
    first = 174 * mm - 18 * mm * len(OFFICER_COUNTS) - 2 * 20 * mm
    widths = [first] + [18 * mm] * len(OFFICER_COUNTS) + [20 * mm, 20 * mm]
    return _table(body, widths=widths, head=head)


def _escape(text: str) -> str:
    """Text inside a Paragraph is ReportLab's markup: names and e-mails are escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
