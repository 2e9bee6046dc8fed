"""Messages to staff members through the outbox: composed by the kind's composer, in the
recipient's language, with an attachment, sent to a real SMTP server with the residents' retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask_babel import gettext

from permit_service.extensions import db
from permit_service.models import Notification
from permit_service.services import delivery, mail, notifications
from tests.smtp import SmtpServer, html_of, smtp_server, text_of

PDF = b"%PDF-1.4 test attachment\n"


def compose_test(note: Notification) -> mail.StaffMail:
    """A composer of this test's own kind: what is sent is what it returns."""
    return mail.StaffMail(
        subject=f"Thing {note.subject_ref} ready",
        paragraphs=[f"Your thing {note.subject_ref} is ready.", gettext("Hello,")],
        link=f"https://permits.city.example/admin/things/{note.subject_ref}",
        attachment=("thing.pdf", "application/pdf", PDF),
    )


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _test_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(mail.STAFF_COMPOSERS, "test_ready", f"{__name__}:compose_test")


def _rows() -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Notification).order_by(Notification.id)))


def test_a_staff_message_is_sent_with_its_attachment_in_its_language(
    app_factory: Any, smtp: SmtpServer
) -> None:
    app = app_factory(**smtp.config(), MAIL_DEFAULT_SENDER="Permits <permits@city.example>")
    with app.app_context():
        note_id = notifications.queue_staff(
            "test_ready", "clerk@city.example", "2026-11", language="de"
        )
        db.session.commit()
        assert delivery.deliver_due() == 1
        (row,) = _rows()
        assert (row.status, row.permit_id, row.recipient) == ("sent", None, "clerk@city.example")
    (message,) = smtp.wait_for(1, 5)
    assert message["To"] == "clerk@city.example"
    assert message["Subject"] == "Thing 2026-11 ready"
    assert message["Message-ID"] == f"<notification-{note_id}@city.example>"
    assert message["Content-Language"] == "de"
    text = text_of(message)
    assert "Your thing 2026-11 is ready." in text and "Hallo," in text  # translated inside
    assert "https://permits.city.example/admin/things/2026-11" in html_of(message)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "thing.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF


def test_a_staff_message_is_retried_then_failed_like_a_residents(
    app_factory: Any, smtp: SmtpServer
) -> None:
    app = app_factory(**smtp.config(), MAIL_MAX_ATTEMPTS=2, MAIL_RETRY_SECONDS=0)
    smtp.stop()
    with app.app_context():
        notifications.queue_staff("test_ready", "clerk@city.example", "x")
        db.session.commit()
        (row,) = _rows()
        assert delivery.send_notification(row.id).retry_in is not None
        assert delivery.send_notification(row.id).status == "failed"
        smtp.start()
        assert delivery.retry_failed() == 1
        assert delivery.deliver_due() == 1
    assert len(smtp.wait_for(1, 5)) == 1


def test_a_message_without_permit_or_recipient_is_refused_by_the_database(app: Any) -> None:
    with app.app_context(), pytest.raises(sa.exc.IntegrityError):
        db.session.execute(
            sa.insert(Notification.__table__).values(kind="test_ready", status="queued", attempts=0)
        )
        db.session.flush()


def test_an_unknown_staff_kind_is_refused(app: Any) -> None:
    with app.app_context(), pytest.raises(ValueError, match="no composer"):
        notifications.queue_staff("nonsense", "clerk@city.example", "x")
