"""Subject access: everything the service holds about one resident (by e-mail) or car (by plate).

"About the person" means the permits they applied with that e-mail address (any letter case)
or for that plate (any spelling), and every row that belongs to those permits: their events,
notifications and the staff reads of them. Permits that only share an address or a name are
someone else's (flatmates, namesakes) and are left out; anonymised permits hold neither e-mail
nor plate, so nothing of them is found. Each kind of row is one section (SECTIONS): enforcement
checks of the plate join at merge as one more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from permit_service.extensions import db
from permit_service.models import (
    EnforcementCheck,
    Notification,
    Permit,
    PermitEvent,
    PermitRead,
    utcnow,
)
from permit_service.services.queries import status_of


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _row(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of an ORM row, JSON-ready."""
    return {
        c.key: _plain(getattr(obj, c.key))
        for c in sa.inspect(type(obj)).column_attrs
        if c.key not in skip
    }


def _rows_of(model: Any, ids: list[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {pid: [] for pid in ids}
    for row in db.session.scalars(
        sa.select(model).where(model.permit_id.in_(ids)).order_by(model.id)
    ):
        found[row.permit_id].append(row)
    return found


def _events(ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    return {k: [_row(e) for e in v] for k, v in _rows_of(PermitEvent, ids).items()}


def _notifications(ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    return {k: [_row(n) for n in v] for k, v in _rows_of(Notification, ids).items()}


def _reads(ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    return {
        k: [{**_row(r, skip=("user_id",)), "staff": r.user.email} for r in v]
        for k, v in _rows_of(PermitRead, ids).items()
    }


def _checks(plate_keys: set[str]) -> list[dict[str, Any]]:
    """The enforcement log's checks of these plates still kept (ENFORCEMENT_LOG_HOURS): by
    plate, not by permit (a warden checks a car, whatever permit it has). Read without an index
    of its own: the log holds a day or so, and this command is rare."""
    if not plate_keys:
        return []
    rows = db.session.scalars(
        sa.select(EnforcementCheck)
        .where(EnforcementCheck.plate_key.in_(sorted(plate_keys)))
        .order_by(EnforcementCheck.checked_at, EnforcementCheck.id)
    )
    return [_row(c, skip=("user_id",)) for c in rows]


# Per permit: section name -> its rows of the permits with these ids (one query each).
SECTIONS: list[tuple[str, Callable[[list[str]], dict[str, list[dict[str, Any]]]]]] = [
    ("events", _events),
    ("notifications", _notifications),
    ("staff_reads", _reads),
]


def export_subject(*, email: str | None = None, plate_key: str | None = None) -> dict[str, Any]:
    """Everything held about the holder of `email` (any case) or the car `plate_key`."""
    if (email is None) == (plate_key is None):
        raise ValueError("give exactly one of email, plate_key")
    if email is not None:
        where = sa.func.lower(Permit.email) == email.strip().lower()
        query = {"email": email.strip()}
    else:
        where = Permit.plate_key == plate_key
        query = {"plate": plate_key}
    now = utcnow()
    permits = list(
        db.session.scalars(sa.select(Permit).where(where).order_by(Permit.created_at, Permit.id))
    )
    ids = [p.id for p in permits]
    sections = {name: rows(ids) for name, rows in SECTIONS} if ids else {}
    plates = {plate_key} if plate_key is not None else {p.plate_key for p in permits}
    return {
        "query": query,
        "enforcement_checks": _checks(plates - {""}),
        "generated_at": now.isoformat(),
        "permits": [
            {
                **_row(p),
                "status_now": status_of(p, now).value,
                **{name: sections[name][p.id] for name, _ in SECTIONS},
            }
            for p in permits
        ],
    }
