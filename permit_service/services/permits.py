"""Permit use cases: the ONLY code that changes a permit. Every change is a compare-and-set.

Each returns what it did (an Outcome). Reads live in services.queries; the SQL of the life
cycle (what is due, events, counts) in services.lifecycle.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from permit_service.domain import (
    DEADLINES,
    Action,
    ChangedMeanwhile,
    InvalidTransition,
    OpenPermitExists,
    PermitNotFound,
    PermitStatus,
    is_noop,
    next_status,
    plate_key,
    status_at,
    validate_application,
)
from permit_service.extensions import db
from permit_service.models import Permit, utcnow
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
from permit_service.services.sweep import sweep_due

__all__ = [
    "APPLICANT_ACTOR",
    "EXPIRY_REASON",
    "SYSTEM_ACTOR",
    "Outcome",
    "apply_for_permit",
    "approve_permit",
    "expire_due_permits",
    "revoke_permit",
]

log = logging.getLogger(__name__)

_CAS_ATTEMPTS = 5
_APPLY_ATTEMPTS = 3


@dataclass(frozen=True)
class Outcome:
    """What a use case did: the permit as it is now, its status before and after."""

    permit: Permit
    before: PermitStatus | None  # None: the permit is new
    after: PermitStatus

    @property
    def changed(self) -> bool:
        """True when the call changed the permit (False for an idempotent repeat)."""
        return self.before is not self.after


def apply_for_permit(
    name: str, license_plate: str, address: str, email: str | None = None
) -> Outcome:
    """Record a resident's application as a pending permit with a deadline of now + TTL."""
    clean = validate_application(name, license_plate, address, email)
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
        }
        try:
            # Back to back with the commit: SQLite's one write lock is held briefly.
            db.session.execute(sa.insert(Permit.__table__), values)
            record_event(values["id"], None, PermitStatus.PENDING, APPLICANT_ACTOR, None, now)
            move_counts({PermitStatus.PENDING: 1})
            db.session.commit()  # the partial unique index is the final word on "one open permit"
            break
        except IntegrityError as exc:
            db.session.rollback()
            # The plate's open permit may be due (expired, sweep or not): record that, retry.
            if record_due(P.plate_key == key, utcnow()):
                db.session.commit()
                continue
            db.session.rollback()
            if _has_open_permit(key):
                raise OpenPermitExists(plate) from exc
            # Open a moment ago, closed now: a sweep, an apply or a decision got there first
            # (it held the row while we looked). Nothing stands in the way: try again.
    else:
        raise ChangedMeanwhile()
    # The row as inserted, made persistent without reading it back.
    permit = Permit(**values)
    make_transient_to_detached(permit)
    db.session.add(permit)
    log.info("permit applied", extra={"permit_id": permit.id})
    return Outcome(permit, None, PermitStatus.PENDING)


def approve_permit(permit_id: str, actor: str) -> Outcome:
    """Approve a pending permit; approving an approved one is a no-op."""
    return _transition(permit_id, Action.APPROVE, actor, None)


def revoke_permit(permit_id: str, actor: str, reason: str | None = None) -> Outcome:
    """Revoke a pending or approved permit; revoking a revoked one is a no-op."""
    return _transition(permit_id, Action.REVOKE, actor, reason)


def expire_due_permits(now: datetime | None = None) -> int:
    """Record every time event that is due (domain.DEADLINES); return how many.

    In short batches, each committed (services.sweep): applies and decisions go on meanwhile.
    """
    count = sweep_due(now or utcnow())
    # One line per sweep, even when nothing was due: operators see the sweep is alive.
    log.info("expired due permits", extra={"count": count})
    return count


def _has_open_permit(key: str) -> bool:
    exists = sa.exists().where(P.plate_key == key, open_condition(utcnow()))
    return db.session.scalar(sa.select(exists)) or False


def _transition(permit_id: str, action: Action, actor: str, reason: str | None) -> Outcome:
    """Compare-and-set: UPDATE ... WHERE status = <the status we decided on>; retry if it moved."""
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
            db.session.commit()
        target = next_status(current, action)
        if target is None:
            db.session.rollback()
            raise InvalidTransition(current, action)
        if is_noop(current, action):  # idempotent repeat: 200, nothing recorded
            db.session.rollback()
            return Outcome(_fresh(pid), current, current)
        guard = [P.id == pid, P.status == current.value]
        if current in DEADLINES:  # still before its deadline when the write lands
            guard.append(before_deadline(current, now))
        changed = db.session.execute(
            sa.update(Permit.__table__)
            .where(*guard)
            .values(status=target.value, updated_at=now, expires_at=None)
        ).rowcount
        if changed == 1:
            record_event(pid, current, target, actor, reason, now)
            move_counts({current: -1, target: 1})
            db.session.commit()
            log.info(
                "permit %s", target.value, extra={"permit_id": pid, "actor_kind": _kind(actor)}
            )
            return Outcome(_fresh(pid), current, target)
        db.session.rollback()  # someone else changed it between our read and our write: re-read
    raise ChangedMeanwhile()


def _fresh(pid: str) -> Permit:
    permit = db.session.get(Permit, pid, populate_existing=True)
    if permit is None:
        raise PermitNotFound("No permit with that id.")
    return permit


def _kind(actor: str) -> str:
    return actor if actor in {SYSTEM_ACTOR, APPLICANT_ACTOR} else "admin"
