"""The review queue (blueprint `admin`): tabs, filters, sortable columns, earlier permits of a
plate or address, decisions one by one or in bulk, and news of applications since the page was
loaded. Thin over services.queries (reads) and services.permits (each decision)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from math import ceil
from typing import Any
from urllib.parse import quote_plus, urlencode

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from permit_service import localtime
from permit_service.domain import (
    ChangedMeanwhile,
    DomainError,
    InvalidTransition,
    PermitNotFound,
    PermitStatus,
    allowed_actions,
)
from permit_service.i18n import page_ngettext as ngettext
from permit_service.i18n import per_language
from permit_service.models import Permit, PermitEvent, utcnow
from permit_service.services import cached, queries
from permit_service.services import permits as service
from permit_service.web import QUERY_SAFE, helpers, words
from permit_service.web.admin import MAX_PAGE, PAGE_SIZE, SEARCH_MAX, bp
from permit_service.web.forms import BulkDecisionForm
from permit_service.web.queue_rows import Columns, render_rows

BULK_MAX = 200  # rows one bulk decision may carry (ten full pages)
DECIDED_TABS = frozenset({"approved", "waitlisted", "revoked", "expired"})
DECIDABLE_TABS = frozenset({"pending", "approved", "waitlisted", "all"})
# The sortable columns: (sort when first chosen, the other direction or None).
COLUMNS = {
    "plate": ("license_plate", "-license_plate"),
    "name": ("name", "-name"),
    "applied": ("-created_at", "created_at"),
    "deadline": ("expires_at", None),
    "validity": ("valid_until", "-valid_until"),
}


@dataclass(frozen=True)
class QueueQuery:
    """What the queue shows, read from the query string (bad values filter nothing)."""

    tab: str
    status: PermitStatus | None
    search: str
    zone: str
    day_from: date | None
    day_to: date | None  # inclusive: the whole local day
    address: str
    sort: str
    page: int
    path: str  # the queue's own address, url_for'd once per request

    @cached_property
    def _values(self) -> dict[str, Any]:
        """The view's values in the query string's order (None: not in it)."""
        return {
            "status": self.tab,
            "q": self.search or None,
            "zone": self.zone or None,
            "from": self.day_from.isoformat() if self.day_from else None,
            "to": self.day_to.isoformat() if self.day_to else None,
            "address": self.address or None,
            "sort": self.sort if self.sort != default_sort(self.tab) else None,
            "page": self.page if self.page > 1 else None,
        }

    @cached_property
    def _pairs(self) -> dict[tuple[str, Any], str]:
        """Encoded `key=value` pairs of this view's links, each encoded once per page."""
        return {}

    def link(self, **change: Any) -> str:
        """This view of the queue with some values changed (None drops a value)."""
        values = {**self._values, **change}
        if values.get("sort") == default_sort(values["status"]):
            values["sort"] = None
        # What url_for would build (werkzeug's query encoding), without its routing per link:
        # a page has about 15 of them, sharing most of their pairs.
        pairs = self._pairs
        parts = []
        for item in values.items():
            if item[1] is None:
                continue
            pair = pairs.get(item)
            if pair is None:
                pair = pairs[item] = urlencode([item], safe=QUERY_SAFE)
            parts.append(pair)
        return f"{self.path}?{'&'.join(parts)}" if parts else self.path


TABS = ["pending", "waitlisted", "approved", "revoked", "expired", "all"]


def tab_items(view: QueueQuery, labels: dict[str, Markup], counts: dict[str, int]) -> Markup:
    """The status tabs' list items, each a link with its count, the current one marked (built
    here, not by a Jinja loop: issue 16)."""
    items = []
    for key in TABS:
        href = escape(view.link(status=key, sort=None, page=None))
        current = ' aria-current="page"' if key == view.tab else ""
        items.append(
            f'\n      <li>\n        <a href="{href}"{current}>\n'
            f'          {escape(labels[key])} <span class="count">{escape(counts[key])}</span>\n'
            "        </a>\n      </li>\n    "
        )
    return Markup("".join(items))  # noqa: S704 - every value is escaped


def sort_heading(view: QueueQuery) -> Any:
    """The template's `sortable(label, column)`: a column heading linking to the first order of
    its column, or to the other direction when the list is sorted by it already, aria-sort
    saying the current order. Python, not a Jinja macro: four per page (issue 16)."""

    def sortable(label: str, column: str) -> Markup:
        first, other = COLUMNS[column]
        active = view.sort in (first, other)
        descending = view.sort.startswith("-")
        target = other if active and other and view.sort == first else first
        href = escape(view.link(sort=target, page=None))
        if active:
            order = "descending" if descending else "ascending"
            arrow = "▼" if descending else "▲"
            return Markup(  # noqa: S704 - the label and the address are escaped
                f'<th scope="col" aria-sort="{order}">\n'
                f'    <a href="{href}" class="sort-link">{escape(label)}'
                f'<span aria-hidden="true"> {arrow}</span></a>\n  </th>'
            )
        return Markup(  # noqa: S704 - the label and the address are escaped
            f'<th scope="col">\n    <a href="{href}" class="sort-link">{escape(label)}</a>\n  </th>'
        )

    return sortable


SORT_WORDS = {
    "-created_at": _l("Newest first."),
    "created_at": _l("Oldest first."),
    "expires_at": _l("Soonest deadline first."),
    "valid_until": _l("Validity ending soonest first."),
    "-valid_until": _l("Validity ending latest first."),
    "license_plate": _l("By licence plate, A to Z."),
    "-license_plate": _l("By licence plate, Z to A."),
    "name": _l("By name, A to Z."),
    "-name": _l("By name, Z to A."),
}


@per_language
def _labels() -> tuple[dict[str, Markup], dict[str, Markup]]:
    """The tabs' and the orders' words in the page's language, resolved once per language (as
    Markup: the lazy strings they were rendered from are HTML-safe too)."""
    return (
        {key: Markup(str(words_)) for key, words_ in words.TAB_LABELS.items()},  # noqa: S704
        {key: Markup(str(words_)) for key, words_ in SORT_WORDS.items()},  # noqa: S704
    )


def default_sort(tab: str) -> str:
    """Pending applications soonest deadline first; everything else newest first."""
    return "expires_at" if tab == PermitStatus.PENDING.value else queries.DEFAULT_SORT


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip()[:10]) if raw and raw.strip() else None
    except ValueError:
        return None


def read_query(zone_codes: set[str]) -> QueueQuery:
    """The queue's view from request.args; unknown or malformed values are ignored."""
    args = request.args
    raw_status = args.get("status", PermitStatus.PENDING.value)
    status = PermitStatus(raw_status) if raw_status in set(PermitStatus) else None
    tab = status.value if status else "all"
    search = "".join(ch for ch in args.get("q", "") if ch.isprintable()).strip()[:SEARCH_MAX]
    address = "".join(ch for ch in args.get("address", "") if ch.isprintable()).strip()[:200]
    zone = args.get("zone", "").strip().upper()
    sort = args.get("sort", "")
    return QueueQuery(
        tab=tab,
        status=status,
        search=search,
        zone=zone if zone in zone_codes else "",
        day_from=_day(args.get("from")),
        day_to=_day(args.get("to")),
        address=address,
        sort=sort if sort in queries.SORTS else default_sort(tab),
        page=min(max(args.get("page", 1, type=int), 1), MAX_PAGE),
        path=current_app.jinja_env.globals["url_for"]("admin.queue"),  # kept once built
    )


@bp.get("/permits")
@login_required
def queue() -> ResponseReturnValue:
    """Review queue: status tabs with counts, search, zone and date filters, sortable columns,
    earlier permits of each plate and address, bulk decisions."""
    zones = cached.all_zones()  # names and fees only, no counts of places
    names = {z.code: words.zone_name(z) for z in zones}
    view = read_query(set(names))
    now = utcnow()
    tz = localtime.city_zone()
    page = queries.review_queue(
        status=view.status,
        search=view.search or None,
        page=view.page,
        page_size=PAGE_SIZE,
        zone=view.zone or None,
        created_from=localtime.start_of_local_day(view.day_from, tz) if view.day_from else None,
        created_to=(
            localtime.start_of_local_day(view.day_to + timedelta(days=1), tz)
            if view.day_to
            else None
        ),
        address=view.address or None,
        sort=view.sort,
    )
    statuses = {p.id: queries.status_of(p, now) for p in page.items}
    decided = [pid for pid, s in statuses.items() if s is not PermitStatus.PENDING]
    events = queries.events_of(decided)
    endings = {pid: words.ending(events[pid]) for pid in decided}
    since = _moment(request.args.get("since"))
    first = (view.page - 1) * PAGE_SIZE + 1
    decisions = (
        {p.id: _decision(p, statuses[p.id], events.get(p.id, [])) for p in page.items}
        if view.tab in DECIDED_TABS
        else {}
    )
    here = request.full_path.rstrip("?")
    fees = {z.code: z.monthly_fee for z in zones}
    tab_labels, sort_words = _labels()
    counts = {"all": sum(page.counts.values()), **{s.value: n for s, n in page.counts.items()}}
    rows = render_rows(
        page.items,
        columns=Columns(
            select=current_user.is_admin and view.tab in DECIDABLE_TABS,
            place=view.tab == PermitStatus.WAITLISTED.value,
            deadline=view.tab in ("pending", "all"),
            decided=view.tab in DECIDED_TABS,
            validity=view.tab in ("approved", "expired", "all"),
            actions=current_user.is_admin,
        ),
        statuses=statuses,
        badges=_badges(statuses, endings),
        marks=_marks(page.items, view.path),
        offered={s: allowed_actions(s, "admin") for s in set(statuses.values())},
        decisions=decisions,
        places={
            p.id: queries.waitlist_position(p)
            for p in page.items
            if statuses[p.id] is PermitStatus.WAITLISTED
        },
        zone_names=names,
        zone_fees=fees,
        clock=localtime.PageClock(now, zone=tz),
        here=here,
        stem=view.path + "/",
    )
    return render_template(
        "web/queue.html",
        page=page,
        rows=rows,
        view=view,
        page_no=view.page,
        pages=max(1, ceil(page.total / PAGE_SIZE)),
        summary=words.summary_words(view.tab, first, first + len(page.items) - 1, page.total),
        tab=view.tab,
        tab_labels=tab_labels,
        search=view.search,
        zone=view.zone,
        zones=zones,
        chosen_zone=names.get(view.zone),
        zone_names=names,
        sort_words=sort_words[view.sort],
        poll_ms=int(current_app.config.get("QUEUE_POLL_SECONDS", 30) * 1000),
        new_words=new_words,
        counts=counts,
        tabs=tab_items(view, tab_labels, counts),
        columns=COLUMNS,
        sortable=sort_heading(view),
        decided_tab=view.tab in DECIDED_TABS,
        since=since,
        new_count=queries.new_since(since, _zone_filter(view)) if since else None,
        loaded=now,
        now=now,
        here=here,
    )


def _badges(
    statuses: dict[str, PermitStatus], endings: dict[str, str | None]
) -> dict[str, tuple[str, str]]:
    """Each row's badge (CSS modifier, words), translated once per kind on the page."""
    kinds: dict[tuple[PermitStatus, str | None], tuple[str, str]] = {}
    for pid, status in statuses.items():
        key = (status, endings.get(pid))
        if key not in kinds:
            kinds[key] = (words.badge_class(*key), words.status_word(*key))
    return {pid: kinds[(s, endings.get(pid))] for pid, s in statuses.items()}


def _marks(permits: list[Any], path: str) -> dict[str, list[tuple[str, str]]]:
    """Each row's earlier permits as (link, words): of its plate, at its address (the queue's
    rows carry their counts; `path`: the queue's address)."""
    everything = f"{path}?status=all"  # url_for("admin.queue", status="all")
    said: dict[tuple[str, int], str] = {}

    def plate_words(n: int) -> str:
        if ("plate", n) not in said:
            said["plate", n] = ngettext("%(num)d of this plate", "%(num)d of this plate", n)
        return said["plate", n]

    def address_words(n: int) -> str:
        if ("address", n) not in said:
            said["address", n] = ngettext("%(num)d at this address", "%(num)d at this address", n)
        return said["address", n]

    found: dict[str, list[tuple[str, str]]] = {}
    for permit in permits:
        plates, places = permit.earlier_plates, permit.earlier_places
        links = []
        if plates:
            links.append(
                (f"{everything}&q={quote_plus(permit.license_plate)}", plate_words(plates))
            )
        if places:
            links.append(
                (f"{everything}&address={quote_plus(permit.address)}", address_words(places))
            )
        found[permit.id] = links
    return found


def _zone_filter(view: QueueQuery) -> queries.Filters | None:
    return queries.Filters(zone=view.zone) if view.zone else None


def _moment(raw: str | None) -> datetime | None:
    """A page's load time from the query string (ISO 8601 with offset), else None."""
    if not raw or len(raw) > 40:
        return None
    try:
        moment = localtime.parse_moment(raw)
    except ValueError:
        return None
    return moment if len(raw) > 10 else None


def _decision(
    permit: Permit, status: PermitStatus, events: list[PermitEvent]
) -> tuple[datetime, str] | None:
    """When and by whom the permit got its present status (the latest change into it)."""
    for event in reversed(events):
        if event.to_status == status.value and event.from_status != event.to_status:
            return event.created_at, words.actor_words(event.actor, event.to_status)
    if status is PermitStatus.EXPIRED:  # due, not yet recorded by a sweep: time decided
        moment = permit.valid_until if permit.valid_from is not None else permit.expires_at
        if moment is not None:
            return moment, words.actor_words(service.SYSTEM_ACTOR, status.value)
    return None


@bp.get("/permits/new")
@login_required
def new_applications() -> ResponseReturnValue:
    """How many applications arrived since `since` (the queue's polling script): JSON."""
    since = _moment(request.args.get("since"))
    if since is None:
        abort(400)
    zone = request.args.get("zone", "").strip().upper()[:10]
    count = queries.new_since(since, queries.Filters(zone=zone) if zone else None)
    response = jsonify({"count": count, "message": new_words(count) if count else ""})
    return helpers.no_store(response)


def new_words(count: int) -> str:
    """'3 new applications since the page was loaded.'"""
    return ngettext(
        "%(num)d new application since this page was loaded.",
        "%(num)d new applications since this page was loaded.",
        count,
    )


# --- bulk decisions -------------------------------------------------------------------------------

# Outcome keys in the order the summary names them.
OUTCOMES = [
    "approved",
    "waitlisted",
    "refused",
    "revoked",
    "expired",
    "already",
    "meanwhile",
    "missing",
]


@bp.post("/permits/bulk")
@login_required
def bulk_decide() -> ResponseReturnValue:
    """Approve or refuse/revoke the selected rows, each its own compare-and-set through the
    service; one summary message ('48 approved, 2 already expired')."""
    if not current_user.is_admin:
        abort(403, description=_("Your account can look at permits but not decide them."))
    form = BulkDecisionForm()
    back = helpers.safe_next(form.next.data, url_for("admin.queue"))
    ids = list(dict.fromkeys(i for i in request.form.getlist("ids") if i))
    if not form.validate():
        for messages in form.errors.values():
            for message in messages:
                flash(str(message), "error")
        return redirect(back, 303)
    if not ids:
        flash(_("Select at least one row, then choose what to do with them."), "error")
        return redirect(back, 303)
    if len(ids) > BULK_MAX:
        flash(
            _("Choose at most %(max)d rows at a time; nothing was changed.", max=BULK_MAX),
            "error",
        )
        return redirect(back, 303)
    reason = (form.reason.data or "").strip() or None
    tally: Counter[str] = Counter()
    for permit_id in ids:
        tally[_decide_one(permit_id, form.action.data, reason)] += 1
    done = tally["approved"] + tally["waitlisted"] + tally["refused"] + tally["revoked"]
    flash(summary_words(tally), "success" if done else "error")
    return redirect(back, 303)


def _decide_one(permit_id: str, action: str, reason: str | None) -> str:
    """Decide one row; the outcome's key (OUTCOMES)."""
    try:
        if action == "approve":
            done = service.approve_permit(permit_id, actor=current_user.email)
        else:
            done = service.revoke_permit(permit_id, actor=current_user.email, reason=reason)
    except PermitNotFound:
        return "missing"
    except InvalidTransition as exc:
        return "expired" if exc.current is PermitStatus.EXPIRED else "already"
    except ChangedMeanwhile:
        return "meanwhile"
    except DomainError:
        return "meanwhile"
    if not done.changed:
        return "already"
    if done.after is PermitStatus.WAITLISTED:
        return "waitlisted"
    if done.after is PermitStatus.APPROVED:
        return "approved"
    return "refused" if done.before is PermitStatus.PENDING else "revoked"


def summary_words(tally: Counter[str]) -> str:
    """'48 approved and 2 already expired', in the page's language with its plural forms."""
    phrases = {
        "approved": lambda n: ngettext("%(num)d approved", "%(num)d approved", n),
        "waitlisted": lambda n: ngettext(
            "%(num)d put on the waiting list (zone full)",
            "%(num)d put on the waiting list (zone full)",
            n,
        ),
        "refused": lambda n: ngettext("%(num)d refused", "%(num)d refused", n),
        "revoked": lambda n: ngettext("%(num)d revoked", "%(num)d revoked", n),
        "expired": lambda n: ngettext("%(num)d already expired", "%(num)d already expired", n),
        "already": lambda n: ngettext("%(num)d already decided", "%(num)d already decided", n),
        "meanwhile": lambda n: ngettext(
            "%(num)d changed meanwhile, not touched", "%(num)d changed meanwhile, not touched", n
        ),
        "missing": lambda n: ngettext("%(num)d not found", "%(num)d not found", n),
    }
    parts = [phrases[key](tally[key]) for key in OUTCOMES if tally[key]]
    # Each part is a whole phrase in the page's language; a comma joins them in English and
    # German alike (CLDR's list patterns would add "and", which reads badly between counts).
    return ", ".join(parts) + "."
