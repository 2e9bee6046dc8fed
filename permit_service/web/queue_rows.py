"""The review queue's table rows, rendered in Python (issue 16).

A queue page of 20 rows rendered through Jinja cost several times the API's 50-permit page
(bench/queue_page.py): per row some thirty expressions, each escaped, and macro and babel calls.
Here every label, button text and link stem is translated or built once per page and each row is
one f-string; every value from the database passes through `escape`. The markup is the one the
template had (tests/web/test_queue_page.py and the end-to-end test read it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from permit_service.domain import PermitStatus
from permit_service.i18n import per_language
from permit_service.models import Permit
from permit_service.web import words

SELECTABLE = frozenset({PermitStatus.PENDING, PermitStatus.APPROVED, PermitStatus.WAITLISTED})


@dataclass(frozen=True)
class Columns:
    """Which optional columns the tab shows."""

    select: bool
    place: bool
    deadline: bool
    decided: bool
    validity: bool
    actions: bool


def render_rows(
    permits: list[Permit],
    *,
    columns: Columns,
    statuses: Mapping[str, PermitStatus],
    badges: Mapping[str, tuple[str, str]],
    marks: Mapping[str, list[tuple[str, str]]],
    offered: Mapping[PermitStatus, frozenset[Any]],
    decisions: Mapping[str, tuple[datetime, str] | None],
    places: Mapping[str, int | None],
    zone_names: Mapping[str, str],
    zone_fees: Mapping[str, Decimal],
    clock: Any,
    here: str,
    stem: str,
) -> Markup:
    """The <tr> elements of one queue page (`stem`: the queue's address and a slash)."""
    e = _escape
    words_ = _page_words()
    label = words_.label
    select_words = words_.select
    approve, refuse, revoke = words_.approve, words_.refuse, words_.revoke
    refuse_go, revoke_go = words_.refuse_go, words_.revoke_go
    stem = e(stem)
    back = e("?back=" + quote(here, safe="/"))
    token = e(generate_csrf())
    next_field = f'<input type="hidden" name="next" value="{e(here)}">'
    csrf_field = f'<input type="hidden" name="csrf_token" value="{token}">'
    monthly = {code: e(words_.monthly(fee)) for code, fee in zone_fees.items()}
    zones = {code: e(name) for code, name in zone_names.items()}
    badge_cells = {
        kind: f'<span class="badge badge-{e(kind[0])}">{e(kind[1])}</span>'
        for kind in set(badges.values())
    }
    dash = '<span class="muted">—</span>'

    def moment(value: datetime) -> str:
        return f'<time datetime="{value.isoformat()}">{e(clock.clock_time(value))}</time>'

    out: list[str] = []
    for permit in permits:
        pid = e(permit.id)
        status = statuses[permit.id]
        plate = e(permit.license_plate or "—")  # '' once anonymised (services.retention)
        cells = ["<tr>"]
        if columns.select:
            box = ""
            if status in SELECTABLE:
                box = (
                    f'<input type="checkbox" name="ids" value="{pid}" form="bulk" '
                    f'id="select-{pid}" aria-label="{select_words % {"plate": plate}}">'
                )
            cells.append(f'<td class="select-cell">{box}</td>')
        cells.append(
            f'<th scope="row"><a href="{stem}{pid}{back}">{plate}</a> '
            f'<code class="reference-cell" title="{label["ref"]}">{e(permit.reference)}</code></th>'
        )
        cells.append(f'<td data-label="{label["name"]}">{e(permit.name) or dash}</td>')
        found = marks.get(permit.id)
        extra = ""
        if found:
            links = "".join(f'<a href="{e(h)}" class="earlier">{e(w)}</a>' for h, w in found)
            extra = (
                f'<span class="earlier-marks"><span class="visually-hidden">'
                f"{label['earlier']}: </span>{links}</span>"
            )
        cells.append(f'<td data-label="{label["address"]}">{e(permit.address) or dash}{extra}</td>')
        cells.append(f'<td data-label="{label["status"]}">{badge_cells[badges[permit.id]]}</td>')
        zone = zones.get(permit.zone)
        zone = e(permit.zone) if zone is None else zone
        cells.append(f'<td data-label="{label["zone"]}">{zone}</td>')
        if columns.place:
            place = e(places.get(permit.id) or "—")
            cells.append(f'<td data-label="{label["place"]}">{place}</td>')
        cells.append(f'<td data-label="{label["applied"]}">{moment(permit.created_at)}</td>')
        if columns.deadline:
            cell = dash
            if status is PermitStatus.PENDING and permit.expires_at is not None:
                relative = e(clock.relative_time(permit.expires_at))
                cell = f"{moment(permit.expires_at)} ({relative})"
            cells.append(f'<td data-label="{label["decide"]}">{cell}</td>')
        if columns.decided:
            decision = decisions.get(permit.id)
            at = moment(decision[0]) if decision else dash
            who = e(decision[1]) if decision else dash
            cells.append(f'<td data-label="{label["decided"]}">{at}</td>')
            cells.append(f'<td data-label="{label["by"]}">{who}</td>')
        if columns.validity:
            cell = dash
            ended = status in (PermitStatus.APPROVED, PermitStatus.EXPIRED)
            if permit.valid_until is not None and ended:
                cell = moment(permit.valid_until)
            cells.append(f'<td data-label="{label["valid"]}">{cell}</td>')
        if permit.fee is not None:
            fee = e(words_.money(permit.fee))
        elif not zone_fees.get(permit.zone):
            fee = f'<span class="muted">{label["free"]}</span>'
        else:
            fee = f'<span class="muted" title="{label["fixed"]}">{monthly[permit.zone]}</span>'
        cells.append(f'<td data-label="{label["fee"]}">{fee}</td>')
        if columns.actions:
            actions = offered[status]
            forms = []
            values = {"plate": plate}
            if "approve" in actions and status is not PermitStatus.WAITLISTED:
                forms.append(
                    f'<form method="post" action="{stem}{pid}/approve" class="inline-form">'
                    f"{csrf_field}{next_field}"
                    f'<button type="submit" class="button button-primary">{approve % values}'
                    "</button></form>"
                )
            if "revoke" in actions:
                pending = status is PermitStatus.PENDING
                forms.append(
                    f'<details class="revoke"><summary>'
                    f"{(refuse if pending else revoke) % values}</summary>"
                    f'<form method="post" action="{stem}{pid}/revoke" class="revoke-form">'
                    f"{csrf_field}{next_field}"
                    f'<label for="reason-{pid}">{label["reason"]}</label>'
                    f'<input type="text" id="reason-{pid}" name="reason" maxlength="500">'
                    f'<button type="submit" class="button button-danger">'
                    f"{(refuse_go if pending else revoke_go) % values}</button></form></details>"
                )
            inner = f'<div class="actions">{"".join(forms)}</div>' if actions else ""
            cells.append(f'<td class="actions-cell">{inner}</td>')
        cells.append("</tr>")
        out.append("".join(cells))
    return _trusted("\n".join(out))


def _escape(value: Any) -> str:
    """markupsafe's `escape` as a plain str: the same five entities, without a Markup object
    per value (a page escapes some four hundred)."""
    if value.__class__ is not str:
        return str(escape(value))
    return (
        value.replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )


class PageWords:
    """The queue rows' words in one language: translated and escaped once per language and
    kept (the catalogues do not change while the process runs), not some twenty gettext calls
    per page. Button words keep `%(plate)s` for the row's escaped plate: their HTML is ours,
    from the catalogue."""

    def __init__(self) -> None:
        self.label = {
            key: _escape(text)
            for key, text in {
                "ref": _("Reference"),
                "name": _("Name"),
                "address": _("Address"),
                "earlier": _("Earlier permits"),
                "status": _("Status"),
                "zone": _("Zone"),
                "place": _("Place"),
                "applied": _("Applied"),
                "decide": _("Decide by"),
                "decided": _("Decided"),
                "by": _("Decided by"),
                "valid": _("Valid until"),
                "fee": _("Fee"),
                "free": _("free"),
                "fixed": _("Fixed when the validity starts"),
                "reason": _("Reason (optional, shown to the resident)"),
            }.items()
        }
        # Plain text with the plate put in: escaped whole (escaping "%(plate)s" changes nothing).
        self.select = _escape(_("Select %(plate)s"))
        self.approve = _('Approve<span class="visually-hidden"> %(plate)s</span>')
        self.refuse = _('Refuse<span class="visually-hidden"> %(plate)s</span>…')
        self.revoke = _('Revoke<span class="visually-hidden"> %(plate)s</span>…')
        self.refuse_go = _('Refuse application<span class="visually-hidden"> %(plate)s</span>')
        self.revoke_go = _('Revoke permit<span class="visually-hidden"> %(plate)s</span>')
        self._money: dict[tuple[Decimal, str], str] = {}
        self._monthly: dict[tuple[Decimal, str], str] = {}

    def money(self, amount: Decimal) -> str:
        """words.money, once per amount and currency."""
        key = (amount, words.currency())
        text = self._money.get(key)
        if text is None:
            if len(self._money) > 1000:
                self._money.clear()
            text = self._money[key] = words.money(amount)
        return text

    def monthly(self, fee: Decimal) -> str:
        """'€10.00/month', once per fee and currency."""
        key = (fee, words.currency())
        text = self._monthly.get(key)
        if text is None:
            if len(self._monthly) > 1000:
                self._monthly.clear()
            text = self._monthly[key] = _("%(fee)s/month", fee=self.money(fee))
        return text


_page_words = per_language(PageWords)


def _trusted(html: str) -> Markup:
    """Markup built here: our own translated words (their HTML is in the catalogue, reviewed
    like code) and rows whose every database value went through `escape`."""
    return Markup(html)  # noqa: S704 - see the docstring
