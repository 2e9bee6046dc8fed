"""Permit reads: one permit, listings, counts, the review queue, histories. Nothing here writes.

Statements are built once per filter shape (functools.cache) with values bound per call; pages
are deferred joins; totals come from permit_counts (services.lifecycle) where that is exact.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from permit_service.domain import (
    DEADLINES,
    PermitNotFound,
    PermitStatus,
    due_transitions,
    plate_key,
    status_at,
)
from permit_service.extensions import db
from permit_service.models import (
    Notification,
    Permit,
    PermitCount,
    PermitEvent,
    ahead_in_line,
    utcnow,
)
from permit_service.references import parse_reference
from permit_service.services.lifecycle import (
    NOW,
    P,
    before_deadline,
    due_count,
    parse_id,
    status_branches,
    stored_in,
)
from permit_service.services.lifecycle import (
    status_condition as status_condition,  # re-exported: the SQL twin of status_of
)

# Listings read rows, not mapped objects (issue 17): a page is read-only, and building 50 ORM
# instances (identity map, instance state, attribute instrumentation) cost more than the query.
# A row has every column of the permit under its attribute name (permit.license_plate, ...).
PERMITS = Permit.__table__
PERMIT_COLUMNS = tuple(PERMITS.c)
PermitRow = sa.Row[Any]


@dataclass(frozen=True)
class Page:
    """One page of a listing (read-only rows, see PERMIT_COLUMNS, possibly with a trailing
    `total` column) plus the total."""

    items: list[PermitRow]
    total: int


@dataclass(frozen=True)
class QueuePage:
    """One page of the review queue, its total, and how many permits each status tab holds."""

    items: list[PermitRow]
    total: int
    counts: dict[PermitStatus, int]


def get_permit(permit_id: str) -> Permit:
    """The permit with this id, or PermitNotFound (also for ids that are not UUIDs)."""
    permit = db.session.get(Permit, parse_id(permit_id))
    if permit is None:
        raise PermitNotFound("No permit with that id.")
    return permit


def resolve_permit_id(id_or_reference: str) -> str:
    """The id of the permit named by its id or its reference (any case, hyphens optional).

    PermitNotFound when neither names a permit.
    """
    text = (id_or_reference or "").strip()
    try:
        return parse_id(text)
    except PermitNotFound:
        pass
    reference = parse_reference(text)
    found = None
    if reference is not None:
        found = db.session.scalar(sa.select(P.id).where(P.reference == reference))
    if found is None:
        raise PermitNotFound("No permit with that id or reference.")
    return found


def get_permit_by_reference(reference: str) -> Permit:
    """The permit with this reference (or id), or PermitNotFound."""
    return get_permit(resolve_permit_id(reference))


def find_by_plate(plate: str) -> list[Permit]:
    """Every permit of a licence plate in any spelling (abc-123, ABC 123), newest first."""
    key = plate_key(plate)
    if not key:
        return []
    return list(
        db.session.scalars(
            sa.select(Permit)
            .where(Permit.plate_key == key)
            .order_by(Permit.created_at.desc(), Permit.id.desc())
        )
    )


def waitlist_position(permit: Permit) -> int | None:
    """The 1-based place of a waitlisted permit in its zone's line; None when not waitlisted.

    Cheap at any size: one count over the partial index (zone, waitlisted_at, id), bounded by
    the permit's own key, so it reads only the entries ahead of it, never the whole line and
    never a table row.
    """
    if permit.status != PermitStatus.WAITLISTED.value or permit.waitlisted_at is None:
        return None
    ahead = db.session.scalar(
        _position_statement(),
        {"zone": permit.zone, "at": permit.waitlisted_at, "id": permit.id},
    )
    return int(ahead or 0) + 1


@functools.cache
def _position_statement() -> sa.Select[tuple[int]]:
    at = sa.bindparam("at", type_=P.waitlisted_at.type)
    pid = sa.bindparam("id", type_=P.id.type)
    return (
        sa.select(sa.func.count())
        .select_from(Permit)
        .where(ahead_in_line(Permit.__table__, sa.bindparam("zone", type_=P.zone.type), at, pid))
    )


def status_of(permit: Permit, now: datetime | None = None) -> PermitStatus:
    """The permit's effective status now (exact deadlines)."""
    return status_at(permit, now or utcnow())


def list_events(permit_id: str) -> list[PermitEvent]:
    """The permit's recorded changes, oldest first (insertion order is causal: each event is
    written under its permit's row lock)."""
    return _rows_of_permit(PermitEvent, permit_id)


def list_notifications(permit_id: str) -> list[Notification]:
    """The permit's notifications to its resident, oldest first; PermitNotFound if none such."""
    return _rows_of_permit(Notification, permit_id)


def _rows_of_permit(model: Any, permit_id: str) -> list[Any]:
    """A table's rows of one permit in insertion (id) order; PermitNotFound if none such."""
    permit = get_permit(permit_id)
    return list(
        db.session.scalars(sa.select(model).where(model.permit_id == permit.id).order_by(model.id))
    )


def revocations_of(permit_ids: list[str]) -> dict[str, list[PermitEvent]]:
    """Each permit's revocation events, oldest first, in one query (a queue page's rows)."""
    found: dict[str, list[PermitEvent]] = {pid: [] for pid in permit_ids}
    if permit_ids:
        for event in db.session.scalars(
            sa.select(PermitEvent)
            .where(
                PermitEvent.permit_id.in_(permit_ids),
                PermitEvent.to_status == PermitStatus.REVOKED.value,
            )
            .order_by(PermitEvent.id)
        ):
            found[event.permit_id].append(event)
    return found


def revocation_reason(permit_id: str) -> str | None:
    """The reason given with the permit's latest revocation, or None (none, or not revoked)."""
    pid = parse_id(permit_id)
    return db.session.scalar(
        sa.select(PermitEvent.reason)
        .where(PermitEvent.permit_id == pid, PermitEvent.to_status == PermitStatus.REVOKED.value)
        .order_by(PermitEvent.id.desc())
        .limit(1)
    )


# `sort` values of the listing (SPEC.md section 4): column and whether it is descending. The
# columns that can be null (a decided permit has no deadline, a pending one no validity) list
# their nulls last in both directions; ties are broken by id, in the sort's direction.
SORTS: dict[str, tuple[str, bool]] = {
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "expires_at": ("expires_at", False),
    "valid_until": ("valid_until", False),
    "-valid_until": ("valid_until", True),
    "license_plate": ("plate_key", False),
    "-license_plate": ("plate_key", True),
}
# What the API offers (SPEC.md section 4); the review queue also sorts by name.
API_SORTS = tuple(SORTS)
SORTS["name"] = ("name", False)
SORTS["-name"] = ("name", True)
DEFAULT_SORT = "-created_at"
NULLABLE = frozenset({"expires_at", "valid_until"})


@dataclass(frozen=True)
class Filters:
    """What a listing, its count and the review queue filter by (all optional)."""

    status: PermitStatus | None = None
    license_plate: str | None = None
    zone: str | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    search: str | None = None
    address: str | None = None  # the same address, any letter case (the queue's earlier marks)

    def shape(self) -> tuple[PermitStatus | None, bool, bool, bool, bool]:
        """Which filters are given: statements are built once per shape."""
        return (
            self.status,
            self.key is not None,
            bool(self.zone),
            self.created_from is not None,
            self.created_to is not None,
        )

    @property
    def key(self) -> str | None:
        """The plate filter's letters and digits (any spelling), or None."""
        return plate_key(self.license_plate) if self.license_plate else None

    def params(self, now: datetime) -> dict[str, Any]:
        """The values bound into the statement of this shape."""
        params: dict[str, Any] = {"now": now}
        if self.key is not None:
            params["key"] = self.key
        if self.zone:
            params["zone"] = self.zone.strip().upper()
        if self.created_from is not None:
            params["created_from"] = self.created_from
        if self.created_to is not None:
            params["created_to"] = self.created_to
        return params

    def term(self) -> str:
        """The free-text search, trimmed ('' for none)."""
        return self.search.strip() if self.search else ""

    def per_call(self) -> list[sa.ColumnElement[bool]]:
        """Conditions built per call: the search and the address (not hot paths)."""
        extra = [_search_clause(self.term())] if self.term() else []
        if self.address and self.address.strip():
            extra.append(address_key(P.address) == address_key(sa.literal(self.address.strip())))
        return extra


def list_permits(
    status: PermitStatus | None = None,
    license_plate: str | None = None,
    search: str | None = None,
    page: int = 1,
    page_size: int = 50,
    zone: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    sort: str = DEFAULT_SORT,
) -> Page:
    """Permits in `sort` order (newest first by default), filtered by effective status, plate,
    zone, time of application and a name/plate/reference search."""
    filters = Filters(status, license_plate, zone, created_from, created_to, search)
    return list_filtered(filters, page=page, page_size=page_size, sort=sort)


def filter_condition(
    shape: tuple[PermitStatus | None, bool, bool, bool, bool],
) -> sa.ColumnElement[bool]:
    """The listing's WHERE for a filter shape (Filters.shape), values bound by Filters.params.

    The same ranges as the listing and the count (_filter_branches), OR-ed into one condition:
    exports read with it.
    """
    branches = _filter_branches(shape, [])
    return sa.or_(*(sa.and_(sa.true(), *branch) for branch in branches))


def list_filtered(
    filters: Filters,
    page: int = 1,
    page_size: int = 50,
    sort: str = DEFAULT_SORT,
    total: int | None = None,
) -> Page:
    """One page of the permits `filters` select, in `sort` order, and how many there are
    (`total` when the caller has counted them already)."""
    now = utcnow()
    offset = (page - 1) * page_size
    params = filters.params(now)
    params.update(limit=page_size, offset=offset, window=offset + page_size)
    extra = filters.per_call()
    status, *narrowed = filters.shape()
    # Nothing narrows the status: the exact total is the stored counts' (as in _count), read
    # by the page's own statement as one more column, one statement fewer (issue 17).
    with_total = total is None and not extra and not any(narrowed)
    if extra:  # free-text search (the review queue): built per call, it is not a hot path
        statement = _page_of(_filter_branches(filters.shape(), extra, sort), sort)
    else:
        statement = _page_statement(filters.shape(), sort, with_total)
    # No table holds 2**62 rows: a deeper page is empty, and must not overflow a BIGINT.
    # Core rows on the session's connection: the ORM's result machinery has nothing to do here.
    items: list[PermitRow] = []
    if params["window"] < 2**62:
        items = db.session.connection().execute(statement, params).all()  # one fetchall
    if len(items) < page_size and (items or page == 1):
        total = offset + len(items)  # the last page tells the total: no count needed
    elif with_total and items:
        total = int(items[0][-1])
    elif total is None:
        total = _count(filters, now)
    return Page(items=items, total=total)


def count_permits(
    status: PermitStatus | None = None,
    license_plate: str | None = None,
    zone: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> int:
    """How many permits match the listing's filters, exact to the deadline like the listing."""
    return _count(Filters(status, license_plate, zone, created_from, created_to), utcnow())


def _count(filters: Filters, now: datetime) -> int:
    status, *narrowed = filters.shape()
    extra = filters.per_call()
    if not any(narrowed) and not extra:  # the stored counts: constant cost
        statement, params = _count_statement(status), {"now": now}
    elif extra:
        statement, params = _count_of(_filter_branches(filters.shape(), extra)), filters.params(now)
    else:
        statement, params = _filtered_count_statement(filters.shape()), filters.params(now)
    return int(db.session.connection().execute(statement, params).scalar() or 0)


def count_by_status() -> dict[PermitStatus, int]:
    """How many permits are in each effective status (for the review queue's tabs)."""
    row = db.session.connection().execute(_counts_statement(), {"now": utcnow()}).one()
    return {s: int(n or 0) for s, n in zip(PermitStatus, row, strict=True)}


def review_queue(
    status: PermitStatus | None = None,
    search: str | None = None,
    page: int = 1,
    page_size: int = 20,
    *,
    zone: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    address: str | None = None,
    sort: str = DEFAULT_SORT,
) -> QueuePage:
    """The admin review queue: one page of the listing plus the tabs' per-status counts.

    The tabs count what the zone and date filters let through (not the search). Each row also
    carries how many permits its plate and its address had before it (`earlier_plates`,
    `earlier_places`, see earlier_permits). One statement reads the page, those counts and,
    when nothing narrows the tabs, the tabs' stored counts (issue 16: the page had five
    statements where the API's has three); an empty page asks for the counts on their own.
    """
    filters = Filters(status, None, zone or None, created_from, created_to, search, address)
    narrowed = bool(filters.zone) or created_from is not None or created_to is not None
    now = utcnow()
    offset = (page - 1) * page_size
    params = filters.params(now)
    params.update(limit=page_size, offset=offset, window=offset + page_size)
    extra = filters.per_call()
    if extra:  # free-text search or address: built per call, not a hot path
        base = _page_of(_filter_branches(filters.shape(), extra, sort), sort)
        statement = _queue_columns(base, with_counts=not narrowed)
    else:
        statement = _queue_statement(filters.shape(), sort, not narrowed)
    items: list[PermitRow] = []
    if params["window"] < 2**62:  # no table holds 2**62 rows (and a BIGINT must not overflow)
        items = list(db.session.connection().execute(statement, params))
    if narrowed:
        counts = count_by_status_within(filters)
    elif items:
        first = items[0]._mapping
        counts = {s: int(first[f"tab_{s.value}"] or 0) for s in PermitStatus}
    else:
        counts = count_by_status()
    if len(items) < page_size and (items or page == 1):
        total = offset + len(items)  # the last page tells the total: no count needed
    elif not narrowed and not extra:
        # Nothing narrows the tab: its count is the listing's total (the same stored counts).
        total = counts[status] if status is not None else sum(counts.values())
    else:
        total = _count(filters, now)
    return QueuePage(items=items, total=total, counts=counts)


def count_by_status_within(filters: Filters) -> dict[PermitStatus, int]:
    """How many permits of the filter's zone and dates are in each effective status: one scan."""
    within = Filters(None, None, filters.zone, filters.created_from, filters.created_to)
    params = within.params(utcnow())
    row = db.session.execute(_counts_within_statement(within.shape()), params).one()
    return {s: int(n or 0) for s, n in zip(PermitStatus, row, strict=True)}


def new_since(since: datetime, filters: Filters | None = None) -> int:
    """How many applications arrived after `since` (in the filter's zone): the queue's notice."""
    zone = filters.zone if filters else None
    params: dict[str, Any] = {"since": since}
    if zone:
        params["zone"] = zone.strip().upper()
    return int(db.session.scalar(_new_since_statement(bool(zone)), params) or 0)


def earlier_permits(permits: list[Permit]) -> dict[str, tuple[int, int]]:
    """For each permit of a page: how many permits its plate, and its address, had before it.

    One statement for the whole page (two correlated counts per row, each an index range:
    plate_key and lower(address), both with created_at), never one query per row.
    """
    if not permits:
        return {}
    rows = db.session.execute(_earlier_statement(), {"ids": [p.id for p in permits]})
    return {pid: (int(plates), int(places)) for pid, plates, places in rows}


def address_key(address: Any) -> sa.ColumnElement[str]:
    """An address compared in any letter case: the expression index of migration 0009."""
    return sa.func.lower(address)


def events_of(permit_ids: list[str]) -> dict[str, list[PermitEvent]]:
    """Every recorded change of each permit, oldest first, in one query (a queue page's rows)."""
    found: dict[str, list[PermitEvent]] = {pid: [] for pid in permit_ids}
    if permit_ids:
        for event in db.session.scalars(
            sa.select(PermitEvent)
            .where(PermitEvent.permit_id.in_(permit_ids))
            .order_by(PermitEvent.id)
        ):
            found[event.permit_id].append(event)
    return found


# --- statements -----------------------------------------------------------------------------------


def _filter_branches(
    shape: tuple[PermitStatus | None, bool, bool, bool, bool],
    extra: list[sa.ColumnElement[bool]],
    sort: str = DEFAULT_SORT,
) -> list[list[sa.ColumnElement[bool]]]:
    """Filters of the listing as index ranges whose union is the result (values bound per call).

    A status whose permits can also arrive by time ("expired": stored, or pending and due) is
    several ranges: each walks (status, created_at, ...) in the sort's order and stops early,
    where one OR would sort every such permit. A sort by a status's own deadline (pending by
    `expires_at`, approved by `valid_until`) spells the status out so the partial deadline
    index of migration 0007 serves it.
    """
    status, by_plate, by_zone, by_from, by_to = shape
    common = list(extra)
    if by_plate:
        common.append(P.plate_key == sa.bindparam("key", type_=P.plate_key.type))
    if by_zone:
        common.append(P.zone == sa.bindparam("zone", type_=P.zone.type))
    if by_from:
        common.append(P.created_at >= sa.bindparam("created_from", type_=P.created_at.type))
    if by_to:
        common.append(P.created_at < sa.bindparam("created_to", type_=P.created_at.type))
    if status is None:
        return [common]
    branches = status_branches(status, NOW)
    column = SORTS[sort][0]
    if status in DEADLINES and DEADLINES[status].field == column:
        branches = [sa.and_(stored_in(status), before_deadline(status, NOW)), *branches[1:]]
    return [[branch, *common] for branch in branches]


def _search_clause(term: str) -> sa.ColumnElement[bool]:
    """Name contains the term (any case), the plate starts with it (any spelling), or it is
    the permit's reference (any case, hyphens optional)."""
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    either = [sa.func.lower(Permit.name).like(f"%{escaped}%", escape="\\")]
    if plate_key(term):
        either.append(Permit.plate_key.startswith(plate_key(term), autoescape=True))
    reference = parse_reference(term)
    if reference is not None:
        either.append(Permit.reference == reference)
    return sa.or_(*either)


def _page_of(
    branches: list[list[sa.ColumnElement[bool]]], sort: str = DEFAULT_SORT
) -> sa.Select[Any]:
    """:limit rows from :offset in `sort` order, as a deferred join.

    The page's ids come from an index alone (OFFSET skips index entries, not rows); only those
    rows are then read. Several branches each contribute their first :window ids, merged. A
    nullable sort column is two ranges per branch (its values, then its nulls, by id), so each
    still walks an index in order and the nulls come last in both directions.
    """
    name, descending = SORTS[sort]
    column = P[name]
    limit = sa.bindparam("limit", type_=sa.BigInteger())
    offset = sa.bindparam("offset", type_=sa.BigInteger())

    def order(key: Any, pid: Any) -> tuple[Any, Any]:
        return (key.desc(), pid.desc()) if descending else (key.asc(), pid.asc())

    if len(branches) == 1 and name not in NULLABLE:
        ids = sa.select(P.id).where(sa.true(), *branches[0]).order_by(*order(column, P.id))
        ids = ids.limit(limit).offset(offset).subquery()
        return (
            sa.select(*PERMIT_COLUMNS)
            .join_from(PERMITS, ids, P.id == ids.c.id)
            .order_by(*order(column, P.id))
        )
    window = sa.bindparam("window", type_=sa.BigInteger())
    parts = []
    for branch in branches:
        if name in NULLABLE:
            ranges = [(0, column.is_not(None)), (1, column.is_(None))]
        else:
            ranges = [(0, sa.true())]
        for rank, range_ in ranges:
            part = (
                sa.select(P.id, column.label("key"), sa.literal(rank).label("rank"))
                .where(range_, *branch)
                .order_by(*order(column, P.id))
                .limit(window)
                .subquery()
            )
            parts.append(sa.select(part.c.id, part.c.key, part.c.rank))
    merged = sa.union_all(*parts).subquery()
    ids = (
        sa.select(merged.c.id, merged.c.rank)
        .order_by(merged.c.rank, *order(merged.c.key, merged.c.id))
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    return (
        sa.select(*PERMIT_COLUMNS)
        .join_from(PERMITS, ids, P.id == ids.c.id)
        .order_by(ids.c.rank, *order(column, P.id))
    )


@functools.cache
def _page_statement(
    shape: tuple[PermitStatus | None, bool, bool, bool, bool], sort: str, with_total: bool = False
) -> sa.Select[Any]:
    """The listing statement per filter shape and sort, built once: per request only values
    are bound. `with_total`: each row ends with the status's exact count from the stored
    counts (_effective_count: only right when nothing but the status filters)."""
    statement = _page_of(_filter_branches(shape, [], sort), sort)
    if with_total:
        statement = statement.add_columns(_effective_count(shape[0]).label("total"))
    return statement


def _count_of(branches: list[list[sa.ColumnElement[bool]]]) -> sa.Select[tuple[int]]:
    either = [sa.and_(*branch) for branch in branches]
    return sa.select(sa.func.count()).select_from(Permit).where(sa.or_(*either))


@functools.cache
def _filtered_count_statement(
    shape: tuple[PermitStatus | None, bool, bool, bool, bool],
) -> sa.Select[tuple[int]]:
    return _count_of(_filter_branches(shape, []))


@functools.cache
def _counts_within_statement(
    shape: tuple[PermitStatus | None, bool, bool, bool, bool],
) -> sa.Select[Any]:
    """Per effective status, the permits the shape's filters let through, in one scan."""
    (common,) = _filter_branches(shape, [])
    return (
        sa.select(
            *(
                sa.func.coalesce(sa.func.sum(sa.case((status_condition(s, NOW), 1), else_=0)), 0)
                for s in PermitStatus
            )
        )
        .select_from(Permit)
        .where(sa.true(), *common)
    )


@functools.cache
def _earlier_statement() -> sa.Select[Any]:
    page = Permit.__table__.alias("page")
    other = Permit.__table__.alias("other")

    def before(*same: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
        return (
            sa.select(sa.func.count())
            .select_from(other)
            .where(*same, other.c.created_at < page.c.created_at)
            .scalar_subquery()
        )

    return sa.select(
        page.c.id,
        before(other.c.plate_key == page.c.plate_key),
        before(address_key(other.c.address) == address_key(page.c.address)),
    ).where(page.c.id.in_(sa.bindparam("ids", expanding=True)))


@functools.cache
def _new_since_statement(by_zone: bool) -> sa.Select[tuple[int]]:
    since = sa.bindparam("since", type_=P.created_at.type)
    statement = sa.select(sa.func.count()).select_from(Permit).where(P.created_at > since)
    if by_zone:
        statement = statement.where(P.zone == sa.bindparam("zone", type_=P.zone.type))
    return statement


def _stored(status: PermitStatus | None) -> sa.ScalarSelect[int]:
    stored = sa.select(sa.func.coalesce(sa.func.sum(PermitCount.n), 0))
    if status is not None:
        stored = stored.where(PermitCount.status == status.value)
    return stored.scalar_subquery()


def _effective_count(status: PermitStatus | None) -> sa.ColumnElement[int]:
    """Exact permits in an effective status (or all) from the stored counts: constant cost.

    Stored count, minus its due permits, plus the due permits time turns into it.
    """
    total: sa.ColumnElement[int] = _stored(status)
    if status is None:
        return total
    for src, _, dst in due_transitions():
        if src is status and dst is not status:
            total = total - due_count(src)
        if dst is status and src is not status:
            total = total + due_count(src)
    return total


@functools.cache
def _count_statement(status: PermitStatus | None) -> sa.Select[tuple[int]]:
    return sa.select(_effective_count(status))


@functools.cache
def _counts_statement() -> sa.Select[Any]:
    return sa.select(*(_effective_count(s).label(f"tab_{s.value}") for s in PermitStatus))


@functools.cache
def _queue_statement(
    shape: tuple[PermitStatus | None, bool, bool, bool, bool], sort: str, with_counts: bool
) -> sa.Select[Any]:
    """The queue's page per filter shape and sort, built once (see _queue_columns)."""
    return _queue_columns(_page_of(_filter_branches(shape, [], sort), sort), with_counts)


def _queue_columns(page: sa.Select[Any], with_counts: bool) -> sa.Select[Any]:
    """A listing page plus, per row, its plate's and its address's earlier permits (the same
    correlated counts as earlier_permits), and with `with_counts` the tabs' stored counts
    (count_by_status's one-row select, joined in once: the page's every row repeats them)."""
    other = PERMITS.alias("other")

    def before(*same: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
        return (
            sa.select(sa.func.count())
            .select_from(other)
            .where(*same, other.c.created_at < PERMITS.c.created_at)
            .correlate(PERMITS)
            .scalar_subquery()
        )

    statement = page.add_columns(
        before(other.c.plate_key == PERMITS.c.plate_key).label("earlier_plates"),
        before(address_key(other.c.address) == address_key(PERMITS.c.address)).label(
            "earlier_places"
        ),
    )
    if with_counts:
        counts = _counts_statement().subquery("tab_counts")
        statement = statement.add_columns(*counts.c).join(counts, sa.true())
    return statement
