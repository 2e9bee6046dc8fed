"""Sending the outbox: one notification at a time, each claimed, sent, and its outcome recorded.

`send_notification` claims the row (a compare-and-set that also leases it for the length of one
attempt), composes it and hands it to the transport (services.mail), then records the outcome.
Two tasks for one message cannot both send it: only one claim succeeds. A message is sent twice
only when a worker dies between the SMTP server's acceptance and the commit of `sent` (the
SPEC's crash window): the lease runs out and the next delivery sends it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from permit_service import metrics
from permit_service.extensions import db
from permit_service.models import Notification, Permit, utcnow
from permit_service.services.notifications import NOTIFICATIONS, Delivery, N, request_delivery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """What one send did: `sent`, `failed` for good, or `retry_in` seconds; None: not claimed."""

    status: Delivery | None
    retry_in: float | None = None
    error: str | None = None


def lease_seconds() -> float:
    """How long a claimed send may take before another delivery may try it (the crash window)."""
    return current_app.config["MAIL_TIMEOUT"] * 3 + 5


def backoff_seconds(attempts: int) -> float:
    """The delay before attempt `attempts` + 1: MAIL_RETRY_SECONDS doubled per attempt, capped."""
    config = current_app.config
    return float(
        min(
            config["MAIL_RETRY_SECONDS"] * 2 ** max(attempts - 1, 0),
            config["MAIL_RETRY_MAX_SECONDS"],
        )
    )


def claim(notification_id: int, now: datetime) -> Notification | None:
    """Claim a queued notification whose time has come (compare-and-set), counting the attempt;
    committed. None when it is sent, failed, not due yet, or claimed by another send."""
    claimed = db.session.execute(
        sa.update(NOTIFICATIONS)
        .where(
            N.id == notification_id,
            N.status == Delivery.QUEUED.value,
            N.next_attempt_at <= now,
        )
        .values(
            attempts=N.attempts + 1,
            next_attempt_at=now + timedelta(seconds=lease_seconds()),
        )
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return None
    return db.session.get(Notification, notification_id, populate_existing=True)


def send_notification(notification_id: int) -> Attempt:
    """Send one notification if it is queued and due: claim, compose, transport, record."""
    from permit_service.services import mail

    now = utcnow()
    note = claim(notification_id, now)
    if note is None:
        return Attempt(None)
    try:
        if note.permit_id is None:  # to a staff member
            message = mail.compose_staff(note)
        else:
            permit = db.session.get(Permit, note.permit_id)
            if permit is None or not permit.email:
                raise mail.Undeliverable("the permit has no e-mail address any more")
            message = mail.compose(note, permit)
        mail.transport().send(message)
    except mail.Undeliverable as exc:
        return _record_failure(note, exc, final=True)
    except Exception as exc:  # noqa: BLE001 - any transport failure is retried, then failed
        return _record_failure(note, exc, final=False)
    nid, kind = note.id, note.kind
    # End the reads first: on SQLite a read transaction that turns into a write can be refused
    # outright (the WAL moved on meanwhile), and then a sent message would not be recorded.
    db.session.rollback()
    db.session.execute(
        sa.update(NOTIFICATIONS)
        .where(N.id == nid)
        .values(status=Delivery.SENT.value, sent_at=utcnow(), last_error=None)
    )
    db.session.commit()
    metrics.notifications("sent")
    log.info("notification sent", extra={"notification_id": nid, "kind": kind})
    return Attempt(Delivery.SENT)


def _record_failure(note: Notification, exc: Exception, *, final: bool) -> Attempt:
    nid, attempts = note.id, note.attempts
    db.session.rollback()
    # For staff (the permit's page, the API): it may name the recipient, so logs get the type.
    error = (str(exc) if final else f"{type(exc).__name__}: {exc}")[:500]
    if final or attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        values: dict[str, Any] = {"status": Delivery.FAILED.value, "last_error": error}
        result = Attempt(Delivery.FAILED, error=error)
    else:
        delay = backoff_seconds(attempts)
        values = {"next_attempt_at": utcnow() + timedelta(seconds=delay), "last_error": error}
        result = Attempt(Delivery.QUEUED, retry_in=delay, error=error)
    db.session.execute(sa.update(NOTIFICATIONS).where(N.id == nid).values(**values))
    db.session.commit()
    metrics.notifications("failed" if result.status is Delivery.FAILED else "retried")
    log.warning(
        "notification not sent",
        extra={
            "notification_id": nid,
            "attempts": attempts,
            "error": type(exc).__name__,
            "final": result.status is Delivery.FAILED,
        },
    )
    return result


DELIVERY_BATCH = 200


def deliver_due(limit: int = 1000) -> int:
    """Send queued notifications whose time has come, oldest first (at most `limit`); how many
    were sent. Stops at the first transport failure: the server is down, the rest can wait."""
    sent = 0
    tried = 0
    while tried < limit:
        ids = list(
            db.session.scalars(
                sa.select(N.id)
                .where(N.status == Delivery.QUEUED.value, N.next_attempt_at <= utcnow())
                .order_by(N.next_attempt_at, N.id)
                .limit(min(DELIVERY_BATCH, limit - tried))
            )
        )
        db.session.rollback()
        if not ids:
            break
        for nid in ids:
            tried += 1
            attempt = send_notification(nid)
            if attempt.status is Delivery.SENT:
                sent += 1
            elif attempt.status is Delivery.QUEUED:
                return sent
    return sent


def retry_failed() -> int:
    """Queue every failed notification again with a fresh count of attempts; how many."""
    count = db.session.execute(
        sa.update(NOTIFICATIONS)
        .where(N.status == Delivery.FAILED.value)
        .values(status=Delivery.QUEUED.value, attempts=0, next_attempt_at=utcnow())
    ).rowcount
    if count:
        request_delivery()
    db.session.commit()
    return count
