"""The read audit: which staff member read which resident's data, when, and what.

One INSERT per staff read (record_read), written before the read itself: INSERT ... SELECT
from the permit, so a read of an unknown permit records nothing and no extra query checks
that it exists. Residents' own reads (their receipt, an anonymous GET /permits/{id}) are not
recorded. The rows are shown to admins in the permit's history (list_reads) and deleted after
RETENTION_DAYS (services.retention).
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from permit_service.domain import PermitNotFound
from permit_service.extensions import db
from permit_service.models import Permit, PermitRead, utcnow
from permit_service.services.lifecycle import parse_id

P = Permit.__table__.c
R = PermitRead.__table__


class ReadKind(StrEnum):
    """What was read (PermitRead.what)."""

    PAGE = "page"  # the permit's staff page /admin/permits/<id> (details, history, e-mails)
    API_PERMIT = "api_permit"  # GET /permits/{id} with a staff token
    API_EVENTS = "api_events"  # GET /permits/{id}/events
    API_NOTIFICATIONS = "api_notifications"  # GET /permits/{id}/notifications
    EXPORT = "export"  # a CSV export downloaded (no permit: `detail` is the export's id)


def record_read(
    user_id: int, what: ReadKind | str, permit_id: str | None = None, detail: str | None = None
) -> None:
    """Record one staff read and commit it; a read of a permit that does not exist records nothing.

    `permit_id` None: a read of many permits at once (an export), named by `detail`.
    """
    values = {"user_id": user_id, "what": str(what), "detail": detail, "created_at": utcnow()}
    if permit_id is None:
        db.session.execute(sa.insert(R).values(permit_id=None, **values))
    else:
        try:
            permit_id = parse_id(permit_id)
        except PermitNotFound:
            return
        row = sa.select(
            P.id, *(sa.literal(v, R.c[k].type).label(k) for k, v in values.items())
        ).where(P.id == permit_id)
        db.session.execute(sa.insert(R).from_select(["permit_id", *values], row))
    db.session.commit()


def list_reads(permit_id: str) -> list[PermitRead]:
    """The staff reads of one permit, oldest first (with each reader's account)."""
    return list(
        db.session.scalars(
            sa.select(PermitRead).where(PermitRead.permit_id == permit_id).order_by(PermitRead.id)
        )
    )
