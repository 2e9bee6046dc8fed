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
    PermitNotFound,
    PermitStatus,
    due_transitions,
    plate_key,
    status_at,
)
from permit_service.extensions import db
from permit_service.models import Notification, Permit, PermitCount, PermitEvent, utcnow
from permit_service.references import parse_reference
from permit_service.services.lifecycle import (
    NOW,
    P,
    due_count,
    parse_id,
    status_branches,
)
from permit_service.services.lifecycle import (
    status_condition as status_condition,  # re-exported: the SQL twin of status_of
)


@dataclass(frozen=True)
class Page:
    """One page of a listing plus the total number of matching rows."""

    items: list[Permit]
    total: int


@dataclass(frozen=True)
class QueuePage:
    """One page of the review queue, its total, and how many permits each status tab holds."""

    items: list[Permit]
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

    Cheap at any size: one count over the index (zone, status, waitlisted_at, id), bounded by
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
        .where(
            P.zone == sa.bindparam("zone", type_=P.zone.type),
            P.status == PermitStatus.WAITLISTED.value,
            sa.or_(P.waitlisted_at < at, sa.and_(P.waitlisted_at == at, P.id < pid)),
        )
    )


def status_of(permit: Permit, now: datetime | None = None) -> PermitStatus:
    """The permit's effective status now (exact deadlines)."""
    return status_at(permit, now or utcnow())


def list_events(permit_id: str) -> list[PermitEvent]:
    """The permit's recorded changes, oldest first."""
    permit = get_permit(permit_id)
    return list(
        db.session.scalars(
            sa.select(PermitEvent)
            .where(PermitEvent.permit_id == permit.id)
            # Insertion order is causal: each event is written under its permit's row lock.
            .order_by(PermitEvent.id)
        )
    )


def list_notifications(permit_id: str) -> list[Notification]:
    """The permit's notifications to its resident, oldest first; PermitNotFound if none such."""
    permit = get_permit(permit_id)
    return list(
        db.session.scalars(
            sa.select(Notification)
            .where(Notification.permit_id == permit.id)
            .order_by(Notification.id)
        )
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


def list_permits(
    status: PermitStatus | None = None,
    license_plate: str | None = None,
    search: str | None = None,
    page: int = 1,
    page_size: int = 50,
    zone: str | None = None,
) -> Page:
    """Permits newest first, filtered by effective status, plate, zone and a name/plate search."""
    now = utcnow()
    offset = (page - 1) * page_size
    params: dict[str, Any] = {
        "now": now,
        "limit": page_size,
        "offset": offset,
        "window": offset + page_size,
    }
    key = plate_key(license_plate) if license_plate else None
    if key is not None:
        params["key"] = key
    term = search.strip() if search else ""
    extra = [_search_clause(term)] if term else []
    if zone is not None:
        extra.append(P.zone == zone.strip().upper())
    if extra:  # free-text search (the review queue): built per call, it is not a hot path
        statement = _page_of(_branches(status, key is not None, extra))
    else:
        statement = _page_statement(status, key is not None)
    # No table holds 2**62 rows: a deeper page is empty, and must not overflow a BIGINT.
    items = list(db.session.scalars(statement, params)) if params["window"] < 2**62 else []
    if len(items) < page_size and (items or page == 1):
        total = offset + len(items)  # the last page tells the total: no count needed
    elif extra or key is not None:  # a plate, a zone or a search: count them
        either = [sa.and_(*branch) for branch in _branches(status, key is not None, extra)]
        count = sa.select(sa.func.count()).select_from(Permit).where(sa.or_(*either))
        total = db.session.scalar(count, params) or 0
    else:
        total = int(db.session.scalar(_count_statement(status), {"now": now}) or 0)
    return Page(items=items, total=total)


def count_permits(
    status: PermitStatus | None = None,
    license_plate: str | None = None,
    zone: str | None = None,
) -> int:
    """How many permits match the listing's filters, exact to the deadline like the listing."""
    now = utcnow()
    key = plate_key(license_plate) if license_plate else None
    if key is None and zone is None:
        return int(db.session.scalar(_count_statement(status), {"now": now}) or 0)
    extra = [P.zone == zone.strip().upper()] if zone is not None else []
    either = [sa.and_(*branch) for branch in _branches(status, key is not None, extra)]
    count = sa.select(sa.func.count()).select_from(Permit).where(sa.or_(*either))
    params: dict[str, Any] = {"now": now}
    if key is not None:
        params["key"] = key
    return int(db.session.scalar(count, params) or 0)


def count_by_status() -> dict[PermitStatus, int]:
    """How many permits are in each effective status (for the review queue's tabs)."""
    row = db.session.execute(_counts_statement(), {"now": utcnow()}).one()
    return {s: int(n or 0) for s, n in zip(PermitStatus, row, strict=True)}


def review_queue(
    status: PermitStatus | None = None,
    search: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> QueuePage:
    """The admin review queue: one page of list_permits plus the tabs' per-status counts."""
    found = list_permits(status=status, search=search, page=page, page_size=page_size)
    return QueuePage(items=found.items, total=found.total, counts=count_by_status())


# --- statements -----------------------------------------------------------------------------------


def _branches(
    status: PermitStatus | None, by_plate: bool, extra: list[sa.ColumnElement[bool]]
) -> list[list[sa.ColumnElement[bool]]]:
    """Filters of the listing as index ranges whose union is the result (values bound per call).

    A status whose permits can also arrive by time ("expired": stored, or pending and due) is
    several ranges: each walks (status, created_at, ...) newest first and stops early, where one
    OR would sort every such permit.
    """
    common = list(extra)
    if by_plate:
        common.append(P.plate_key == sa.bindparam("key", type_=P.plate_key.type))
    if status is None:
        return [common]
    return [[branch, *common] for branch in status_branches(status, NOW)]


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


def _page_of(branches: list[list[sa.ColumnElement[bool]]]) -> sa.Select[tuple[Permit]]:
    """Newest first, :limit rows from :offset, as a deferred join.

    The page's ids come from an index alone (OFFSET skips index entries, not rows); only those
    rows are then read. Several branches each contribute their newest :window ids, merged.
    """
    newest = (P.created_at.desc(), P.id.desc())
    limit = sa.bindparam("limit", type_=sa.BigInteger())
    offset = sa.bindparam("offset", type_=sa.BigInteger())
    if len(branches) == 1:
        ids = sa.select(P.id).where(sa.true(), *branches[0]).order_by(*newest)
        ids = ids.limit(limit).offset(offset).subquery()
    else:
        window = sa.bindparam("window", type_=sa.BigInteger())
        parts = [
            sa.select(P.id, P.created_at).where(*branch).order_by(*newest).limit(window).subquery()
            for branch in branches
        ]
        merged = sa.union_all(*(sa.select(p.c.id, p.c.created_at) for p in parts)).subquery()
        ids = (
            sa.select(merged.c.id)
            .order_by(merged.c.created_at.desc(), merged.c.id.desc())
            .limit(limit)
            .offset(offset)
            .subquery()
        )
    return sa.select(Permit).join(ids, Permit.id == ids.c.id).order_by(*newest)


@functools.cache
def _page_statement(status: PermitStatus | None, by_plate: bool) -> sa.Select[tuple[Permit]]:
    """The listing statement per filter shape, built once: per request only values are bound."""
    return _page_of(_branches(status, by_plate, []))


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
    return sa.select(*(_effective_count(s) for s in PermitStatus))
