"""E-mails to residents: the outbox rows every change writes, and their delivery to a real SMTP
server (aiosmtpd on loopback): contents, language, headers, retries, failure, the file transport.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from permit_service import clock
from permit_service.extensions import db
from permit_service.models import Notification, utcnow
from permit_service.services import delivery, zones
from permit_service.services import permits as service
from tests.conftest import auth_headers
from tests.factories import make_permit
from tests.smtp import SmtpServer, html_of, smtp_server, text_of

ADMIN = "officer@city.example"
BASE = "https://permits.city.example"
SECRET = "test-secret-key-not-for-production"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def mail_app(app_factory: Any, smtp: SmtpServer) -> Flask:
    return app_factory(
        **smtp.config(),
        PUBLIC_BASE_URL=BASE,
        CITY_TIMEZONE="Europe/Berlin",
        MAIL_DEFAULT_SENDER="Permit office <permits@city.example>",
        MAIL_RETRY_SECONDS=60,
    )


def _kinds(permit_id: str) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(Notification.kind)
            .where(Notification.permit_id == permit_id)
            .order_by(Notification.id)
        )
    )


def _rows() -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Notification).order_by(Notification.id)))


class _Plain:
    """A permit's id, reference and plate, readable after its session has gone."""

    def __init__(self, permit: Any) -> None:
        self.id, self.reference, self.license_plate = (
            permit.id,
            permit.reference,
            permit.license_plate,
        )


def _plain(permit: Any) -> _Plain:
    return _Plain(permit)


def _by_receipt(messages: list[EmailMessage], permit_id: str) -> list[EmailMessage]:
    return [m for m in messages if f"/applications/{permit_id}" in text_of(m)]


def test_every_step_of_a_permits_life_reaches_the_resident_in_their_language(
    mail_app: Flask, smtp: SmtpServer
) -> None:
    with mail_app.app_context():
        zones.create_zone("NORTH", "North", quota=1, monthly_fee="10.00")
        # Waiting list: the second of a full zone waits, gets the place the first leaves.
        first = service.apply_for_permit("A First", "NW-1", "1 St", "a@example.org", zone="NORTH")
        second = service.apply_for_permit(
            "B Second", "NW-2", "2 St", "b@example.org", zone="NORTH", language="de"
        )
        zones.update_zone("NORTH", open=False)  # one open zone again: the others need none
        # English: received, approved (10 days), both reminders after approval, validity ended.
        en = make_permit(
            "approved", email="jane@example.org", valid_until=utcnow() + timedelta(days=10)
        )
        # German: refused with a reason.
        de = make_permit("pending", email="max@example.org", language="de", name="Max Muster")
        service.revoke_permit(de.id, actor=ADMIN, reason="Adresse nicht in der Stadt")
        # Approved then revoked with a reason; cancelled by the resident; expired unanswered.
        revoked = make_permit("approved", email="rev@example.org")
        service.revoke_permit(revoked.id, actor=ADMIN, reason="moved away")
        cancelled = make_permit("pending", email="can@example.org")
        service.cancel_permit(cancelled.id)
        expired = make_permit("pending", due=True, email="exp@example.org")
        service.approve_permit(first.permit.id, actor=ADMIN)
        assert service.approve_permit(second.permit.id, actor=ADMIN).after.value == "waitlisted"
        service.revoke_permit(first.permit.id, actor=ADMIN, reason="sold the car")
        # Renewed: approved for 20 days, inside the 30-day window.
        renewed = make_permit(
            "approved", email="ren@example.org", valid_until=utcnow() + timedelta(days=20)
        )
        service.renew_permit(renewed.id, actor=ADMIN)
        silent = make_permit("approved", email=None)  # no address: nothing is written

        clock.advance(timedelta(days=4))  # 6 days left: the 7-day reminder of `en`
        service.expire_due_permits()
        service.expire_due_permits()  # a second sweep adds nothing
        clock.advance(timedelta(days=5, hours=12))  # 12 hours left: the 1-day reminder
        service.expire_due_permits()
        clock.advance(timedelta(days=1))  # ended
        service.expire_due_permits()

        assert _kinds(en.id) == [
            "received", "approved", "validity_ending", "validity_ending", "validity_ended",
        ]  # fmt: skip
        assert _kinds(de.id) == ["received", "refused"]
        assert _kinds(revoked.id) == ["received", "approved", "revoked"]
        assert _kinds(cancelled.id) == ["received", "cancelled"]
        assert _kinds(expired.id) == ["received", "expired"]
        assert _kinds(first.permit.id) == ["received", "approved", "revoked"]
        assert _kinds(second.permit.id) == ["received", "waitlisted", "place_given"]
        assert _kinds(renewed.id)[:3] == ["received", "approved", "renewed"]
        assert _kinds(silent.id) == []
        reminders = [n.offset_seconds for n in _rows() if n.permit_id == en.id and n.offset_seconds]
        assert reminders == [7 * 86400, 86400]  # not 30 days: that was before the approval

        en, de, revoked = _plain(en), _plain(de), _plain(revoked)
        second = _plain(second.permit)
        total = len(_rows())
        assert delivery.deliver_due() == total
        assert delivery.deliver_due() == 0  # nothing twice
        rows = _rows()
        assert {n.status for n in rows} == {"sent"}
        assert all(n.attempts == 1 and n.sent_at is not None for n in rows)
        ids = {n.id: n for n in rows}

    messages = smtp.wait_for(total, 5)
    assert len(messages) == total
    assert set(smtp.message_ids().values()) == {1}
    for message in messages:
        number = int(re.fullmatch(r"<notification-(\d+)@city\.example>", message["Message-ID"])[1])
        assert number in ids
        assert message["From"] == "Permit office <permits@city.example>"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Date"]
        assert message.get_content_type() == "multipart/alternative"
        text, html = text_of(message), html_of(message)
        permit_id = ids[number].permit_id
        link = f"{BASE}/applications/{permit_id}"
        assert link in text and f'href="{link}"' in html
        for body in (text, html, str(message)):
            assert SECRET not in body

    (received,) = [m for m in _by_receipt(messages, en.id) if "received" in m["Subject"]]
    assert received["To"] == "jane@example.org"
    assert received["Content-Language"] == "en"
    assert received["Subject"] == f"Application received ({en.reference})"
    assert en.reference in text_of(received) and en.license_plate in text_of(received)
    assert re.search(r"decide by .*CET", text_of(received))  # local time, Berlin in winter

    ending = [m for m in _by_receipt(messages, en.id) if "ends soon" in m["Subject"]]
    assert ["ends in 1 week, on" in text_of(m) for m in ending] == [True, False]
    assert "ends in 1 day, on" in text_of(ending[1])

    refused = [m for m in _by_receipt(messages, de.id) if m["Subject"].startswith("Ihr Antrag")]
    assert len(refused) == 1 and refused[0]["Content-Language"] == "de"
    assert "abgelehnt" in refused[0]["Subject"]
    assert "Adresse nicht in der Stadt" in text_of(refused[0])
    assert "Hallo Max Muster," in text_of(refused[0])

    (revocation,) = [m for m in _by_receipt(messages, revoked.id) if "revoked" in m["Subject"]]
    assert "moved away" in text_of(revocation)

    second_words = [m["Subject"] for m in _by_receipt(messages, second.id)]
    assert any("Warteliste" in s for s in second_words), second_words
    waiting = [m for m in _by_receipt(messages, second.id) if "Warteliste" in m["Subject"]]
    assert "Nummer 1" in text_of(waiting[0])
    given = [m for m in _by_receipt(messages, second.id) if "frei" in m["Subject"]]
    assert len(given) == 1 and "Zone North (NORTH)" in text_of(given[0])
    assert "Gebühr: 120,00\xa0€" in text_of(given[0])  # a year at 10.00 a month, German style


def test_mail_server_down_then_up_every_message_arrives_once(
    mail_app: Flask, smtp: SmtpServer
) -> None:
    smtp.stop()
    with mail_app.app_context():
        permits = [make_permit("pending", email=f"r{i}@example.org") for i in range(3)]
        for permit in permits:
            service.approve_permit(permit.id, actor=ADMIN)
        assert delivery.deliver_due() == 0  # the server refuses: stops at the first
        rows = _rows()
        assert [n.attempts for n in rows] == [1, 0, 0, 0, 0, 0]
        assert rows[0].status == "queued" and "ConnectionRefusedError" in (rows[0].last_error or "")
        assert rows[0].next_attempt_at >= utcnow() + timedelta(seconds=55)  # MAIL_RETRY_SECONDS
        smtp.start()
        # The failed one waits for its backoff; the rest go now.
        assert delivery.deliver_due() == 5
        clock.advance(timedelta(seconds=61))
        assert delivery.deliver_due() == 1
        assert {n.status for n in _rows()} == {"sent"}
    smtp.wait_for(6, 5)
    assert sorted(smtp.message_ids().values()) == [1] * 6


def test_after_max_attempts_failed_until_retry_failed(app_factory: Any, smtp: SmtpServer) -> None:
    app = app_factory(**smtp.config(), MAIL_MAX_ATTEMPTS=3, MAIL_RETRY_SECONDS=10)
    smtp.stop()
    with app.app_context():
        permit_id = make_permit("pending", email="late@example.org").id
        delays = []
        for _ in range(3):
            before = utcnow()
            attempt = delivery.send_notification(_rows()[0].id)
            delays.append(attempt.retry_in)
            if attempt.retry_in:
                assert _rows()[0].next_attempt_at >= before + timedelta(seconds=attempt.retry_in)
                clock.advance(timedelta(seconds=attempt.retry_in + 1))
        assert delays == [10.0, 20.0, None]  # exponential backoff, then failed
        (row,) = _rows()
        assert (row.status, row.attempts) == ("failed", 3)
        assert delivery.deliver_due() == 0  # failed ones are not tried again by themselves

    headers = auth_headers(app)
    answer = app.test_client().get(f"/permits/{permit_id}/notifications", headers=headers)
    assert answer.status_code == 200
    (shown,) = answer.get_json()
    assert shown["kind"] == "received" and shown["status"] == "failed"
    assert shown["attempts"] == 3 and "ConnectionRefusedError" in shown["last_error"]
    assert shown["sent_at"] is None and shown["created_at"]

    smtp.start()
    result = app.test_cli_runner().invoke(args=["notifications", "retry-failed"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 failed notification queued again")
    with app.app_context():
        assert delivery.deliver_due() == 1
        (row,) = _rows()
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert len(smtp.wait_for(1, 5)) == 1
    again = app.test_cli_runner().invoke(args=["notifications", "retry-failed"])
    assert again.output.strip() == "0 failed notifications queued again."


def test_two_sends_of_one_message_send_it_once(mail_app: Flask, smtp: SmtpServer) -> None:
    """A task re-queued by the sweep while the first still waits: one claim wins."""
    with mail_app.app_context():
        make_permit("pending", email="once@example.org")
        (row,) = _rows()
        first = delivery.send_notification(row.id)
        second = delivery.send_notification(row.id)
        assert first.status == "sent" and second.status is None
    assert len(smtp.wait_for(1, 5)) == 1


def test_without_mail_server_messages_are_eml_files_in_the_instance(app_factory: Any) -> None:
    app = app_factory()  # make run's defaults: MAIL_SERVER unset
    assert app.config["MAIL_SERVER"] is None
    with app.app_context():
        permit = _plain(make_permit("pending", email="file@example.org", language="de"))
        assert delivery.deliver_due() == 1
        (row,) = _rows()
    folder = Path(app.instance_path) / "mail"
    (eml,) = folder.glob("*.eml")
    assert eml.name == f"notification-{row.id}.eml"
    import email
    import email.policy

    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == "file@example.org"
    assert message["Subject"] == f"Antrag eingegangen ({permit.reference})"
    assert f"http://127.0.0.1:8000/applications/{permit.id}" in text_of(message)


def test_reminders_only_for_offsets_after_the_approval_or_renewal(app_factory: Any) -> None:
    app = app_factory(REMINDERS_BEFORE=[30 * 86400, 7 * 86400, 86400], RENEWAL_WINDOW_DAYS=30)
    with app.app_context():
        short = make_permit(
            "approved", email="s@example.org", valid_until=utcnow() + timedelta(days=3)
        )
        year = make_permit("approved", email="y@example.org")
        service.expire_due_permits()
        offsets = Counter((n.permit_id, n.offset_seconds) for n in _rows() if n.offset_seconds)
        assert offsets == Counter()  # 3 days left: 1 day not reached; 30d, 7d were before
        clock.advance(timedelta(days=336))  # the year's permit: 30 days left or less
        service.expire_due_permits()
        service.renew_permit(year.id, actor=ADMIN)  # renewed: its new period starts now
        service.expire_due_permits()
        offsets = Counter((n.permit_id, n.offset_seconds) for n in _rows() if n.offset_seconds)
        assert offsets == Counter({(year.id, 30 * 86400): 1})
        assert short.id not in {p for p, _ in offsets}
        clock.advance(timedelta(days=365))  # 30 days before the renewed end
        service.expire_due_permits()
        service.expire_due_permits()
        rows = [n for n in _rows() if n.offset_seconds]
        periods = Counter((n.offset_seconds, n.period_end) for n in rows)
        assert sorted(periods.values()) == [1, 1]  # one per offset and period
        assert len({n.period_end for n in rows}) == 2


def test_a_notification_is_written_with_its_change_or_not_at_all(app: Flask) -> None:
    with app.app_context():
        permit = make_permit("pending", email="atomic@example.org")
        service.approve_permit(permit.id, actor=ADMIN)
        with pytest.raises(Exception):  # noqa: B017, PT011 - a conflict: nothing changes
            service.renew_permit(permit.id, actor=ADMIN)  # outside the window: 409
        assert _kinds(permit.id) == ["received", "approved"]


def test_the_sweep_writes_one_notification_per_ended_permit_with_an_address(
    app_factory: Any,
) -> None:
    app = app_factory()
    with app.app_context():
        with_mail = [make_permit("pending", due=True, email=f"e{i}@example.org") for i in range(30)]
        without = [make_permit("pending", due=True) for _ in range(10)]
        ended = [make_permit("approved", due=True, email=f"v{i}@example.org") for i in range(5)]
        assert service.expire_due_permits() == 45
        kinds = Counter((n.permit_id, n.kind) for n in _rows() if n.kind != "received")
        assert kinds == Counter(
            {(p.id, "expired"): 1 for p in with_mail}
            | {(p.id, "validity_ended"): 1 for p in ended}
            | {(p.id, "approved"): 1 for p in ended}
        )
        assert not {p.id for p in without} & {p for p, _ in kinds}


def test_a_due_permit_acted_on_before_the_sweep_tells_its_end_once(app: Flask) -> None:
    """The end recorded by a decision (not the sweep) writes the message; the sweep adds none."""
    with app.app_context():
        late = make_permit("pending", due=True, email="late@example.org")
        ended = make_permit("approved", due=True, email="ended@example.org")
        with pytest.raises(Exception):  # noqa: B017, PT011 - 409: it expired meanwhile
            service.approve_permit(late.id, actor=ADMIN)
        with pytest.raises(Exception):  # noqa: B017, PT011 - 409: renew an ended permit
            service.renew_permit(ended.id, actor=ADMIN)
        service.expire_due_permits()
        assert _kinds(late.id) == ["received", "expired"]
        assert _kinds(ended.id) == ["received", "approved", "validity_ended"]
