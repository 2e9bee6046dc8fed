"""Mail: composing a notification as a message, and the transports that carry it.

The standard library's `email` and `smtplib`, not Flask-Mailman: the service needs a stable
Message-ID it sets itself, exact timeouts on every SMTP step, and a file transport that writes
one `.eml` per message (named by the notification, so a repeated send replaces the file);
Flask-Mailman's file backend writes `.log` files per connection and its SMTP backend adds
nothing these few lines do not. With MAIL_SERVER unset, messages go to INSTANCE_PATH/mail/.
"""

from __future__ import annotations

import importlib
import os
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Protocol

from babel.numbers import format_currency
from flask import current_app, g, render_template
from flask_babel import force_locale, gettext

from permit_service.domain import N_
from permit_service.extensions import db
from permit_service.i18n import DEFAULT_LANGUAGE, LANGUAGES
from permit_service.localtime import city_zone, cldr_locale, duration_words, long_time
from permit_service.models import Notification, Permit, Zone


class Undeliverable(Exception):
    """The message cannot be sent, however often it is tried (no address any more)."""


# Subjects, by kind; the reference tells residents which permit it is about.
SUBJECTS = {
    "received": N_("Application received (%(reference)s)"),
    "approved": N_("Your parking permit is approved (%(reference)s)"),
    "waitlisted": N_("Your application is on the waiting list (%(reference)s)"),
    "place_given": N_("A place is free: your parking permit is approved (%(reference)s)"),
    "refused": N_("Your application was refused (%(reference)s)"),
    "revoked": N_("Your parking permit was revoked (%(reference)s)"),
    "cancelled": N_("Cancelled as you asked (%(reference)s)"),
    "expired": N_("Your application expired (%(reference)s)"),
    "renewed": N_("Your parking permit is renewed (%(reference)s)"),
    "validity_ending": N_("Your parking permit ends soon (%(reference)s)"),
    "validity_ended": N_("Your parking permit has ended (%(reference)s)"),
}


def receipt_url(permit_id: str) -> str:
    """The resident's receipt page: PUBLIC_BASE_URL + /applications/<id>."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/applications/{permit_id}"


def message_id(notification_id: int) -> str:
    """The notification's Message-ID: the same every time it is sent (derived from its id)."""
    domain = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1].rpartition("@")[2]
    return f"<notification-{notification_id}@{domain or 'localhost'}>"


def compose(note: Notification, permit: Permit) -> EmailMessage:
    """The message of a notification: plain text and HTML, in the permit's language."""
    config = current_app.config
    language = permit.language if permit.language in LANGUAGES else DEFAULT_LANGUAGE
    zone = city_zone()

    def when(moment: Any) -> str | None:
        return long_time(moment, language=language, zone=zone) if moment is not None else None

    fee = permit.fee if note.kind in {"approved", "place_given", "renewed"} else None
    context = {
        "kind": note.kind,
        "name": permit.name,
        "reference": permit.reference,
        "plate": permit.license_plate,
        "zone": _zone_words(permit.zone),
        "receipt_url": receipt_url(permit.id),
        "deadline": when(note.deadline),
        "valid_from": when(permit.valid_from),
        "valid_until": when(note.period_end or permit.valid_until),
        "fee": format_currency(Decimal(fee), config["CURRENCY"], locale=cldr_locale(language))
        if fee is not None
        else None,
        "place": note.place,
        "reason": note.reason,
        "before": duration_words(note.offset_seconds, language=language)
        if note.offset_seconds
        else None,
        "contact": config.get("CONTACT_EMAIL") or None,
    }
    # Flask-Babel's force_locale does nothing while `g` is empty (a worker's fresh context).
    g.mail_language = language
    with force_locale(language):
        subject = gettext(SUBJECTS[note.kind], reference=permit.reference)
        lines = {
            "subject": subject,
            "greeting": gettext("Hello %(name)s,", name=permit.name),
            "paragraphs": paragraphs(context),
            "link_intro": gettext("Your application and permit, at any time:"),
            "receipt_url": context["receipt_url"],
            "facts": facts(context),
            "closing": gettext("Your city's parking permit office"),
            "automatic": gettext("This message was sent automatically; replies are not read."),
            "contact": gettext("Questions: %(contact)s", contact=context["contact"])
            if context["contact"]
            else None,
        }
        text = render_template("mail/notification.txt", **lines)
        html = render_template("mail/notification.html", language=language, **lines)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = permit.email
    message["Date"] = format_datetime(note.created_at)
    message["Message-ID"] = message_id(note.id)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["Content-Language"] = language  # after the parts: set_content drops Content-*
    return message


@dataclass(frozen=True)
class StaffMail:
    """A message to a staff member, as its composer returns it (strings already translated)."""

    subject: str
    paragraphs: list[str]
    link: str | None = None  # where to see it in the service
    attachment: tuple[str, str, bytes] | None = None  # file name, MIME type, content


# Composers of staff messages, by kind: "module:function", imported when a message of that kind
# is sent. The function takes the Notification (its `subject_ref` names what it is about) and
# returns a StaffMail; it runs in the message's language (gettext works inside it).
STAFF_COMPOSERS: dict[str, str] = {
    "export_ready": "permit_service.services.exports:compose_ready",
    "report_ready": "permit_service.services.reports:compose_ready",
}


def compose_staff(note: Notification) -> EmailMessage:
    """The message of a staff notification: plain text, HTML, and its attachment if any."""
    config = current_app.config
    language = note.language if note.language in LANGUAGES else DEFAULT_LANGUAGE
    module, _, function = STAFF_COMPOSERS[note.kind].partition(":")
    composer = getattr(importlib.import_module(module), function)
    g.mail_language = language
    with force_locale(language):
        staff: StaffMail = composer(note)
        lines = {
            "subject": staff.subject,
            "greeting": gettext("Hello,"),
            "paragraphs": staff.paragraphs,
            "link": staff.link,
            "closing": gettext("Your city's parking permit office"),
            "automatic": gettext("This message was sent automatically; replies are not read."),
        }
        text = render_template("mail/staff.txt", **lines)
        html = render_template("mail/staff.html", language=language, **lines)
    message = EmailMessage()
    message["Subject"] = staff.subject
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = note.recipient
    message["Date"] = format_datetime(note.created_at)
    message["Message-ID"] = message_id(note.id)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if staff.attachment is not None:
        filename, mime_type, content = staff.attachment
        maintype, _, subtype = mime_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    message["Content-Language"] = language  # after the parts: set_content drops Content-*
    return message


def _zone_words(code: str) -> str:
    """The zone as residents know it: 'North (NORTH)'."""
    zone = db.session.get(Zone, code)
    return f"{zone.name} ({code})" if zone is not None else code


def paragraphs(c: dict[str, Any]) -> list[str]:
    """What the message says, by kind, in the current (forced) language."""
    kind = c["kind"]
    if kind == "received":
        return [
            gettext(
                "We have received your application for a parking permit for %(plate)s. "
                "Its reference is %(reference)s.",
                plate=c["plate"],
                reference=c["reference"],
            ),
            gettext(
                "A permit officer will decide by %(deadline)s. If nobody decides by then, "
                "the application expires and you can apply again.",
                deadline=c["deadline"],
            ),
        ]
    if kind == "approved":
        return [
            gettext(
                "Your parking permit for %(plate)s is approved. It is valid from %(start)s "
                "until %(end)s.",
                plate=c["plate"],
                start=c["valid_from"],
                end=c["valid_until"],
            )
        ]
    if kind == "waitlisted":
        return [
            gettext(
                "Your application for %(plate)s is approved, but zone %(zone)s is full. "
                "You are number %(place)s on its waiting list; you get the next free place "
                "automatically and we will write to you then.",
                plate=c["plate"],
                zone=c["zone"],
                place=c["place"],
            )
        ]
    if kind == "place_given":
        return [
            gettext(
                "A place in zone %(zone)s is free and it is yours: your parking permit for "
                "%(plate)s is valid from %(start)s until %(end)s.",
                zone=c["zone"],
                plate=c["plate"],
                start=c["valid_from"],
                end=c["valid_until"],
            )
        ]
    if kind in {"refused", "revoked"}:
        first = (
            gettext(
                "Your application for a parking permit for %(plate)s was refused.", plate=c["plate"]
            )
            if kind == "refused"
            else gettext("Your parking permit for %(plate)s was revoked.", plate=c["plate"])
        )
        reason = (
            gettext("The reason given: %(reason)s", reason=c["reason"])
            if c["reason"]
            else gettext("No reason was given.")
        )
        return [first, reason]
    if kind == "cancelled":
        return [
            gettext(
                "As you asked, your application or permit for %(plate)s is cancelled. "
                "You can apply again at any time.",
                plate=c["plate"],
            )
        ]
    if kind == "expired":
        return [
            gettext(
                "Your application for %(plate)s was not decided in time and has expired. "
                "You can apply again for the same plate.",
                plate=c["plate"],
            )
        ]
    if kind == "renewed":
        return [
            gettext(
                "Your parking permit for %(plate)s is renewed: it is now valid until %(end)s.",
                plate=c["plate"],
                end=c["valid_until"],
            )
        ]
    if kind == "validity_ending":
        return [
            gettext(
                "Your parking permit for %(plate)s ends in %(before)s, on %(end)s. "
                "You can renew it on its page.",
                plate=c["plate"],
                before=c["before"],
                end=c["valid_until"],
            )
        ]
    if kind == "validity_ended":
        return [
            gettext(
                "Your parking permit for %(plate)s ended on %(end)s. To park in the zone again, "
                "apply for a new permit.",
                plate=c["plate"],
                end=c["valid_until"],
            )
        ]
    raise ValueError(f"no message for kind {kind!r}")


def facts(c: dict[str, Any]) -> list[tuple[str, str]]:
    """The permit's key facts under the message: reference, plate, zone, fee."""
    rows = [
        (gettext("Reference"), c["reference"]),
        (gettext("Licence plate"), c["plate"]),
        (gettext("Zone"), c["zone"]),
    ]
    if c["fee"]:
        rows.append((gettext("Fee"), c["fee"]))
    return rows


class Transport(Protocol):
    """Carries a composed message; raises on failure."""

    def send(self, message: EmailMessage) -> None: ...


class FileTransport:
    """Writes each message as INSTANCE_PATH/mail/<notification>.eml (MAIL_SERVER unset)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        """Write the message atomically; the same notification replaces its own file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"]).strip("<>").partition("@")[0] + ".eml"
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(message.as_bytes())
        os.replace(tmp, self.folder / name)


class SmtpTransport:
    """SMTP with STARTTLS (MAIL_USE_TLS) or SSL (MAIL_USE_SSL), and login when configured."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def send(self, message: EmailMessage) -> None:
        """One connection per message, every step bounded by MAIL_TIMEOUT."""
        c = self.config
        context = ssl.create_default_context()
        timeout = c["MAIL_TIMEOUT"]
        if c["MAIL_USE_SSL"]:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                c["MAIL_SERVER"], c["MAIL_PORT"], timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(c["MAIL_SERVER"], c["MAIL_PORT"], timeout=timeout)
        with smtp:
            if c["MAIL_USE_TLS"] and not c["MAIL_USE_SSL"]:
                smtp.starttls(context=context)
            if c["MAIL_USERNAME"]:
                smtp.login(c["MAIL_USERNAME"], c["MAIL_PASSWORD"] or "")
            smtp.send_message(message)


def mail_folder() -> Path:
    """Where the file transport writes: the instance folder's mail/."""
    return Path(current_app.instance_path) / "mail"


def transport() -> Transport:
    """The configured transport: SMTP when MAIL_SERVER is set, else .eml files."""
    if current_app.config["MAIL_SERVER"]:
        return SmtpTransport(current_app.config)
    return FileTransport(mail_folder())
