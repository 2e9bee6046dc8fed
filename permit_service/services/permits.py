"""Permit use cases: the ONLY code that changes a permit. Every change is a compare-and-set.

Each returns what it did (an Outcome). Reads live in services.queries; the SQL of the life
cycle (what is due, events, counts) in services.lifecycle.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from permit_service import cache, metrics
from permit_service.domain import (
    DEADLINES,
    N_,
    Action,
    ChangedMeanwhile,
    DomainError,
    InvalidTransition,
    Message,
    OpenPermitExists,
    PermitEnded,
    PermitNotFound,
    PermitStatus,
    RenewalNotOpen,
    ValidationFailed,
    is_noop,
    next_status,
    next_status_when_full,
    plate_key,
    status_at,
    validate_application,
)
from permit_service.extensions import db
from permit_service.i18n import DEFAULT_LANGUAGE, LANGUAGES
from permit_service.localtime import city_zone, local_today
from permit_service.models import Permit, Zone, utcnow
from permit_service.references import new_reference
from permit_service.services import notifications, zones
from permit_service.services.lifecycle import (
    APPLICANT_ACTOR,
    EXPIRY_REASON,
    SYSTEM_ACTOR,
    P,
    before_deadline,
    move_counts,
    open_condition,
    parse_id,
    record_due,
    record_event,
)
from permit_service.services.queries import find_by_plate, resolve_permit_id
from permit_service.services.sweep import delete_old_checks, sweep_due
from permit_service.validity import (
    BadValidUntil,
    default_valid_until,
    fee_for,
    in_renewal_window,
    parse_valid_until,
    renewal_opens,
    renewed_until,
)

__all__ = [
    "APPLICANT_ACTOR",
    "CANCEL_REASON",
    "RENEWAL_REASON_PREFIX",
    "EXPIRY_REASON",
    "SYSTEM_ACTOR",
    "Outcome",
    "apply_for_permit",
    "record_application",
    "approve_permit",
    "cancel_permit",
    "expire_due_permits",
    "find_by_plate",
    "renew_permit",
    "renewal_reason",
    "resolve_permit_id",
    "revoke_permit",
]

CANCEL_REASON = "cancelled by the resident"
RENEWAL_REASON_PREFIX = "renewed until "  # + the new end's local date, YYYY-MM-DD


def renewal_reason(until: date) -> str:
    """The reason recorded with a renewal: "renewed until YYYY-MM-DD" (the new end's local date)."""
    return f"{RENEWAL_REASON_PREFIX}{until.isoformat()}"


log = logging.getLogger(__name__)

_CAS_ATTEMPTS = 5
# Log lines say what happened: "permit approved", "permit cancelled", ...
_DONE = {
    Action.APPROVE: "approved",
    Action.REVOKE: "revoked",
    Action.CANCEL: "cancelled",
    Action.RENEW: "renewed",
}
_APPLY_ATTEMPTS = 3
_INSERT_PERMIT = sa.insert(Permit.__table__)


@dataclass(frozen=True)
class Outcome:
    """What a use case did: the permit as it is now, its status before and after."""

    permit: Permit
    before: PermitStatus | None  # None: the permit is new
    after: PermitStatus
    in_place: bool = False  # changed without a new status (a renewal)

    @property
    def changed(self) -> bool:
        """True when the call changed the permit (False for an idempotent repeat)."""
        return self.in_place or self.before is not self.after


def apply_for_permit(
    name: str,
    license_plate: str,
    address: str,
    email: str | None = None,
    zone: str | None = None,
    language: str = "en",
) -> Outcome:
    """Record a resident's application as a pending permit with a deadline of now + TTL.

    `zone` names an open zone; it may be left out while exactly one zone is open. Unknown,
    closed, or missing while several are open: ValidationFailed on `zone`. `language` is the
    one the resident applied in ("en", "de"; others: English): their e-mails speak it.
    """
    values = record_application(name, license_plate, address, email, zone, language)
    # The row as inserted, made persistent without reading it back.
    permit = Permit(**values)
    make_transient_to_detached(permit)
    db.session.add(permit)
    return Outcome(permit, None, PermitStatus.PENDING)


def record_application(
    name: str,
    license_plate: str,
    address: str,
    email: str | None = None,
    zone: str | None = None,
    language: str = "en",
) -> dict[str, Any]:
    """apply_for_permit without the ORM object: the new permit's column values as inserted
    (every column of the permits table), which the API answers with (issue 17)."""
    errors: dict[str, list[str]] = {}
    try:
        clean = validate_application(name, license_plate, address, email)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    try:
        zone_code = zones.zone_for_application(zone)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        db.session.rollback()
        raise ValidationFailed(errors)
    plate = str(clean["license_plate"])
    key = plate_key(plate)
    ttl = timedelta(seconds=current_app.config["PENDING_TTL_SECONDS"])
    for _ in range(_APPLY_ATTEMPTS):
        now = utcnow()
        values = {
            "id": str(uuid.uuid4()),
            "name": clean["name"],
            "license_plate": plate,
            "plate_key": key,
            "address": clean["address"],
            "email": clean["email"],
            "status": PermitStatus.PENDING.value,
            "created_at": now,
            "updated_at": now,
            "expires_at": now + ttl,
            # Random: a clash with an existing reference fails the insert like a plate clash
            # would, and the loop below simply tries again with a new one.
            "reference": new_reference(),
            "valid_from": None,
            "valid_until": None,
            "zone": zone_code,
            "waitlisted_at": None,
            "fee": None,
            "language": language if language in LANGUAGES else DEFAULT_LANGUAGE,
            "anonymised_at": None,
        }
        try:
            # Back to back with the commit: SQLite's one write lock is held briefly.
            # Core on the session's connection, the statement built once (issue 17).
            db.session.connection().execute(_INSERT_PERMIT, values)
            cache.touch(db.session, plates=[key])  # the plate's permits (a new id: uncached)
            record_event(values["id"], None, PermitStatus.PENDING, APPLICANT_ACTOR, None, now)
            notifications.record_change(values["id"], None, PermitStatus.PENDING, None, None, now)
            move_counts({PermitStatus.PENDING: 1})
            db.session.commit()  # the partial unique index is the final word on "one open permit"
            break
        except IntegrityError as exc:
            db.session.rollback()
            # The plate's open permit may be due (expired, sweep or not): record that, retry.
            if record_due(P.plate_key == key, utcnow()):
                zones.fill_places()
                db.session.commit()
                continue
            db.session.rollback()
            if _has_open_permit(key):
                raise OpenPermitExists(plate) from exc
            # Open a moment ago, closed now: a sweep, an apply or a decision got there first
            # (it held the row while we looked); or the random reference was taken. Nothing
            # stands in the way: try again (with a new reference).
    else:
        raise ChangedMeanwhile()
    log.info("permit applied", extra={"permit_id": values["id"]})
    return values


def approve_permit(
    permit_id: str, actor: str, valid_until: str | date | datetime | None = None
) -> Outcome:
    """Approve a pending permit, valid from now; approving an approved one is a no-op.

    The validity ends at the end of the local day PERMIT_VALIDITY_DAYS ahead, or at
    `valid_until` (a date: the end of that local day; or an aware date-time), which must be in
    the future and no later than that (else ValidationFailed).
    """
    config = current_app.config
    zone = city_zone()
    until: datetime | None = None
    if valid_until is not None:
        try:
            until = parse_valid_until(valid_until, utcnow(), zone, config["PERMIT_VALIDITY_DAYS"])
        except BadValidUntil as exc:
            raise ValidationFailed({"valid_until": [exc.args[0]]}) from exc

    def validity(row: Any, now: datetime) -> Change:
        end = until or default_valid_until(now, zone, config["PERMIT_VALIDITY_DAYS"])
        if end <= now:  # given for a moment that has passed while we waited
            raise ValidationFailed(
                {"valid_until": [Message(N_("The end of validity must be in the future."))]}
            )
        fee = _zone_fee(row.zone, now, end, zone)
        return Change({"valid_from": now, "valid_until": end, "fee": fee})

    return _transition(permit_id, Action.APPROVE, actor, None, validity)


def revoke_permit(permit_id: str, actor: str, reason: str | None = None) -> Outcome:
    """Revoke a pending or approved permit; revoking a revoked one is a no-op."""
    return _transition(permit_id, Action.REVOKE, actor, reason)


def cancel_permit(permit_id: str) -> Outcome:
    """The resident withdraws an application or ends a permit at once (revoked, actor applicant).

    Cancelling a revoked permit is a no-op; an expired one is a conflict.
    """
    return _transition(permit_id, Action.CANCEL, APPLICANT_ACTOR, CANCEL_REASON)


def renew_permit(permit_id: str, actor: str) -> Outcome:
    """Extend an approved permit inside its renewal window, by PERMIT_VALIDITY_DAYS, seamlessly.

    The new validity ends at the end of the local day PERMIT_VALIDITY_DAYS after the old end's
    local date. Outside the window: RenewalNotOpen (with the date it opens); ended permits:
    PermitEnded. Compare-and-set on `valid_until`: two renewals at once extend it once.
    """
    config = current_app.config
    zone = city_zone()

    def extension(row: Any, now: datetime) -> Change:
        old = row.valid_until
        window = config["RENEWAL_WINDOW_DAYS"]
        if not in_renewal_window(old, now, zone, window):
            raise RenewalNotOpen(renewal_opens(old, zone, window))
        new = renewed_until(old, zone, config["PERMIT_VALIDITY_DAYS"])
        reason = renewal_reason(local_today(new, zone))
        fee = (row.fee or 0) + _zone_fee(row.zone, old, new, zone)
        return Change({"valid_until": new, "fee": fee}, guard=[P.valid_until == old], reason=reason)

    return _transition(permit_id, Action.RENEW, actor, None, extension)


def expire_due_permits(now: datetime | None = None) -> int:
    """Record every time event that is due (domain.DEADLINES: pending past its deadline,
    approved past its validity, both become expired); return how many.

    In short batches, each committed (services.sweep): applies and decisions go on meanwhile.
    Each batch leaves the places its expired permits held (their zones' counters move in the
    batch's transaction); then the free places go to the zones' waiting lists.
    """
    now = now or utcnow()
    count = sweep_due(now)
    if count:
        zones.fill_places()
        db.session.commit()
    # The outbox: reminders that are due, then a delivery of what waits to be sent (this
    # sweep's messages, retries whose time has come, any whose task was lost). One read when
    # there is nothing to do.
    offsets, waiting = notifications.outbox_due(now)
    reminders = notifications.queue_due_reminders(now, offsets) if offsets else 0
    if reminders:
        waiting = True
        metrics.notifications("queued", reminders)
    if waiting:
        notifications.request_delivery()
        db.session.commit()
    # The enforcement check log past ENFORCEMENT_LOG_HOURS (SPEC.md section 11).
    checks = delete_old_checks(now, current_app.config["ENFORCEMENT_LOG_HOURS"])
    # One line per sweep, even when nothing was due: operators see the sweep is alive.
    log.info("expired due permits", extra={"count": count, "checks_deleted": checks})
    metrics.sweep_finished(count)
    return count


def _zone_fee(code: str, start: datetime, end: datetime, tz: Any) -> Any:
    """The fee of the validity start..end in zone `code`: its monthly fee x started months."""
    monthly = db.session.scalar(sa.select(Zone.monthly_fee).where(Zone.code == code))
    return fee_for(monthly or 0, start, end, tz)


def _has_open_permit(key: str) -> bool:
    exists = sa.exists().where(P.plate_key == key, open_condition(utcnow()))
    return db.session.scalar(sa.select(exists)) or False


@dataclass(frozen=True)
class Change:
    """What a use case writes besides the status: values, extra guards, the event's reason."""

    values: dict[str, Any]
    guard: list[sa.ColumnElement[bool]] = field(default_factory=list)
    reason: str | None = None


def _transition(
    permit_id: str,
    action: Action,
    actor: str,
    reason: str | None,
    plan: Callable[[Any, datetime], Change] | None = None,
) -> Outcome:
    """Compare-and-set: UPDATE ... WHERE status = <the status we decided on>; retry if it moved.

    `plan(row, now)` adds the use case's own values and guards (the validity of an approval, the
    extension of a renewal) and may refuse with a domain error.
    """
    pid = parse_id(permit_id)
    for _ in range(_CAS_ATTEMPTS):
        row = db.session.execute(sa.select(Permit.__table__).where(P.id == pid)).first()
        if row is None:
            raise PermitNotFound("No permit with that id.")
        # Stamp after reading, so an event is never dated before the change it builds on.
        now = utcnow()
        current = status_at(row, now)
        if current.value != row.status:
            # Time has decided but no sweep recorded it yet: record that first.
            record_due(P.id == pid, now)
            zones.fill_places([row.zone])
            db.session.commit()
        target = next_status(current, action)
        if target is None:
            db.session.rollback()
            raise _refusal(current, action)
        if is_noop(current, action):  # idempotent repeat: 200, nothing recorded
            db.session.rollback()
            return Outcome(_fresh(pid), current, current)
        try:
            change = plan(row, now) if plan is not None else Change({})
        except DomainError:
            db.session.rollback()
            raise
        guard = [P.id == pid, P.status == current.value, *change.guard]
        if current in DEADLINES:  # still before its deadline when the write lands
            guard.append(before_deadline(current, now))
        values = {"status": target.value, "updated_at": now, "expires_at": None, **change.values}
        changed = db.session.execute(
            sa.update(Permit.__table__).where(*guard).values(**values)
        ).rowcount
        if changed == 1:
            # Cached reads of the permit, its plate and the zones' places: stale after commit.
            cache.touch(db.session, permits=[pid], plates=[row.plate_key], zones=True)
            if target is not current:
                move_counts({current: -1, target: 1})
            placed, at = _places(pid, row.zone, current, target, action, now)
            if placed is not target:  # the zone was full: waitlisted instead
                move_counts({target: -1, placed: 1})
            target = placed
            record_event(pid, current, target, actor, change.reason or reason, at)
            notifications.record_change(pid, current, target, action, reason, at)
            db.session.commit()
            log.info(
                "permit %s",
                _DONE.get(action, action.value),
                extra={"permit_id": pid, "actor_kind": _kind(actor)},
            )
            return Outcome(_fresh(pid), current, target, in_place=target is current)
        db.session.rollback()  # someone else changed it between our read and our write: re-read
    raise ChangedMeanwhile()


def _places(
    pid: str,
    zone: str,
    before: PermitStatus,
    after: PermitStatus,
    action: Action,
    now: datetime,
) -> tuple[PermitStatus, datetime]:
    """Move the zone's places with the permit (its row is locked): the status it ends in, when.

    Into approved takes a place, or, the zone full, makes it waitlisted instead (stamped after
    the zone's lock, so the line's order is the order places are looked for). Out of approved
    frees one, given on at once.
    """
    if after is PermitStatus.APPROVED and before is not PermitStatus.APPROVED:
        if zones.take_place(zone):
            return after, now
        full = next_status_when_full(before, action)
        assert full is PermitStatus.WAITLISTED
        at = max(utcnow(), now)
        db.session.execute(
            sa.update(Permit.__table__)
            .where(P.id == pid)
            .values(
                status=full.value,
                updated_at=at,
                waitlisted_at=at,
                valid_from=None,
                valid_until=None,
                fee=None,
            )
        )
        return full, at
    if before is PermitStatus.APPROVED and after is not PermitStatus.APPROVED:
        zones.release_place(zone)
    return after, now


def _refusal(current: PermitStatus, action: Action) -> InvalidTransition:
    """The conflict to report: renewing an ended permit says to apply again."""
    if action is Action.RENEW and current in {PermitStatus.EXPIRED, PermitStatus.REVOKED}:
        return PermitEnded(current)
    return InvalidTransition(current, action)


def _fresh(pid: str) -> Permit:
    permit = db.session.get(Permit, pid, populate_existing=True)
    if permit is None:
        raise PermitNotFound("No permit with that id.")
    return permit


def _kind(actor: str) -> str:
    return actor if actor in {SYSTEM_ACTOR, APPLICANT_ACTOR} else "admin"
