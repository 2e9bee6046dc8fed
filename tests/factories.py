"""One way of making a permit in any state: through the services, with the clock moved, no UPDATEs.

Call inside an app context. A "due" permit is applied for in the past (the clock moved back by
its TTL and more), so its deadline has passed but no sweep has recorded it.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

from flask import current_app

from permit_service import clock
from permit_service.domain import PermitStatus
from permit_service.extensions import db
from permit_service.models import Permit, utcnow
from permit_service.services import permits as service
from permit_service.services.lifecycle import P, record_due

ADMIN = "admin@example.test"
_plates = itertools.count(1)


def make_permit(
    status: PermitStatus | str = PermitStatus.PENDING,
    *,
    due: bool | timedelta = False,
    plate: str | None = None,
    name: str = "Jane Roe",
    address: str = "1 Elm St",
    email: str | None = None,
    reason: str | None = None,
    actor: str = ADMIN,
    valid_until: datetime | date | str | None = None,
    language: str = "en",
) -> Permit:
    """A permit in `status`, made by the use cases a permit in that status has been through.

    `language` is the one the resident applied in (their e-mails speak it).
    `due` (pending or approved): its deadline, or its validity, ended `due` ago (True: 1 s) and
    no sweep ran, so it reads as expired. `status="expired"`: due and recorded (as by the sweep,
    for this permit alone). `valid_until` is passed to the approval (approved permits).
    """
    status = PermitStatus(status)
    plate = plate or f"FX-{next(_plates)}"
    overdue = due if isinstance(due, timedelta) else timedelta(seconds=1 if due else 0)
    if status is PermitStatus.APPROVED and overdue:
        return _ended_approval(overdue, plate, name, address, email, actor, language)
    if status is PermitStatus.EXPIRED and not overdue:
        overdue = timedelta(seconds=1)
    if overdue and status not in {PermitStatus.PENDING, PermitStatus.EXPIRED}:
        raise ValueError("only a pending or approved permit can be due")
    back = timedelta(seconds=current_app.config["PENDING_TTL_SECONDS"]) + overdue if overdue else 0
    clock.advance(-back)
    try:
        permit = service.apply_for_permit(name, plate, address, email, language=language).permit
    finally:
        clock.advance(back)
    if status is PermitStatus.EXPIRED:
        record_due(P.id == permit.id, utcnow())
        db.session.commit()
    elif status is PermitStatus.APPROVED:
        service.approve_permit(permit.id, actor=actor, valid_until=valid_until)
    elif status is PermitStatus.REVOKED:
        service.revoke_permit(permit.id, actor=actor, reason=reason)
    fresh = db.session.get(Permit, permit.id, populate_existing=True)
    assert fresh is not None
    return fresh


def _ended_approval(
    overdue: timedelta,
    plate: str,
    name: str,
    address: str,
    email: str | None,
    actor: str,
    language: str = "en",
) -> Permit:
    """An approved permit whose validity ended `overdue` ago, unrecorded (approved for 1 hour)."""
    back = timedelta(hours=1) + overdue
    clock.advance(-back)
    try:
        permit = service.apply_for_permit(name, plate, address, email, language=language).permit
        service.approve_permit(permit.id, actor=actor, valid_until=utcnow() + timedelta(hours=1))
    finally:
        clock.advance(back)
    fresh = db.session.get(Permit, permit.id, populate_existing=True)
    assert fresh is not None
    return fresh
