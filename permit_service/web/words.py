"""The words the pages use for statuses, history entries and actors, in the page's language.

One status word per state everywhere (receipt, queue, history). A pending application that an
officer revokes is "refused"; an approved permit that is revoked is "revoked". A resident who
cancels (actor `applicant`) has "withdrawn" an application or "cancelled" a permit: their own
choice, not the office's refusal (SPEC section 3's words are about what the office did). The API
keeps `revoked` for all four; the permit's history tells them apart (the last revocation's
from_status and actor): `ending()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import format_currency, lazy_gettext

from permit_service import localtime
from permit_service.domain import PermitStatus
from permit_service.i18n import page_gettext as gettext
from permit_service.models import DEFAULT_ZONE, DEFAULT_ZONE_NAME
from permit_service.services import permits as service
from permit_service.services.lifecycle import TIME_EVENT_REASONS
from permit_service.services.zones import PLACE_REASON

STATUS_WORDS = {
    PermitStatus.PENDING: lazy_gettext("Waiting for a decision"),
    PermitStatus.APPROVED: lazy_gettext("Approved"),
    PermitStatus.WAITLISTED: lazy_gettext("On the waiting list"),
    PermitStatus.REVOKED: lazy_gettext("Revoked"),
    PermitStatus.EXPIRED: lazy_gettext("Expired"),
}
# How a revoked permit ended, in words (keys are the `ending()` values; also CSS badge classes).
ENDINGS = {
    "refused": lazy_gettext("Refused"),
    "revoked": lazy_gettext("Revoked"),
    "withdrawn": lazy_gettext("Withdrawn"),
    "cancelled": lazy_gettext("Cancelled"),
    "left": lazy_gettext("Left the waiting list"),
}

# The queue's tabs: what the rows of each are called in "Showing 1-20 of 23 ...".
TAB_LABELS = {
    "pending": lazy_gettext("Waiting for a decision"),
    "waitlisted": lazy_gettext("Waiting list"),
    "approved": lazy_gettext("Approved"),
    "revoked": lazy_gettext("Refused or revoked"),
    "expired": lazy_gettext("Expired"),
    "all": lazy_gettext("All"),
}


def ending_of(event: Any) -> str | None:
    """How a revocation event ended the permit: refused, revoked, withdrawn or cancelled."""
    if event.to_status != PermitStatus.REVOKED.value or event.from_status == event.to_status:
        return None
    by_resident = event.actor == service.APPLICANT_ACTOR
    if event.from_status == PermitStatus.WAITLISTED.value and by_resident:
        return "left"
    if event.from_status == PermitStatus.PENDING.value:
        return "withdrawn" if by_resident else "refused"
    return "cancelled" if by_resident else "revoked"


def ending(events: Iterable[Any]) -> str | None:
    """How the permit's last revocation ended it ('refused', 'withdrawn'...), or None."""
    endings = [e for e in (ending_of(event) for event in events) if e is not None]
    return endings[-1] if endings else None


def status_word(status: PermitStatus | str, ending: str | None = None) -> str:
    """The status in words: 'Waiting for a decision', 'Approved', 'Refused', 'Withdrawn'..."""
    status = PermitStatus(status)
    if status is PermitStatus.REVOKED and ending in ENDINGS:
        return str(ENDINGS[ending])
    return str(STATUS_WORDS[status])


def badge_class(status: PermitStatus | str, ending: str | None = None) -> str:
    """The badge's CSS modifier: the status, or how a revoked permit ended."""
    status = PermitStatus(status)
    if status is PermitStatus.REVOKED and ending in ENDINGS:
        return ending
    return status.value


def event_words(event: Any) -> str:
    """A history entry in the interface's words: 'Applied', 'Waiting for a decision → Refused'."""
    if not event.from_status:
        return gettext("Applied: %(status)s", status=status_word(event.to_status))
    if event.from_status == event.to_status == PermitStatus.APPROVED.value:
        return gettext("Renewed")
    return gettext(
        "%(before)s → %(after)s",
        before=status_word(event.from_status),
        after=status_word(event.to_status, ending_of(event)),
    )


# The reasons the service itself records (not an officer's free text), in the page's language.
_SERVICE_REASONS = {
    service.CANCEL_REASON: lazy_gettext("cancelled by the resident"),
    TIME_EVENT_REASONS[PermitStatus.PENDING]: lazy_gettext("not approved before the deadline"),
    TIME_EVENT_REASONS[PermitStatus.APPROVED]: lazy_gettext("validity ended"),
    PLACE_REASON: lazy_gettext("a place in the zone became free"),
}


def reason_words(reason: str | None) -> str | None:
    """A history entry's reason: the service's own reasons translated, an officer's as written."""
    if reason in _SERVICE_REASONS:
        return str(_SERVICE_REASONS[reason])
    text = reason or ""
    if text.startswith(service.RENEWAL_REASON_PREFIX):  # services.permits.renewal_reason
        try:
            day = date.fromisoformat(text.removeprefix(service.RENEWAL_REASON_PREFIX))
        except ValueError:
            return reason  # an officer's own words that happen to start the same way
        return gettext("renewed until %(date)s", date=localtime.day_words(day))
    return reason


READ_WORDS = {
    "page": lazy_gettext("the permit's staff page"),
    "api_permit": lazy_gettext("the permit through the API"),
    "api_events": lazy_gettext("its history through the API"),
    "api_notifications": lazy_gettext("its e-mails through the API"),
}


def read_words(what: str) -> str:
    """What a staff read (services.audit.ReadKind) looked at, in the page's language."""
    return str(READ_WORDS.get(what, what))


def actor_words(actor: str, to_status: str | None = None) -> str:
    """Who made a change: an officer's e-mail address, 'the resident', 'automatic expiry', or
    the waiting list (a place given by the service when one freed)."""
    if actor == service.APPLICANT_ACTOR:
        return gettext("the resident")
    if actor == service.SYSTEM_ACTOR and to_status == PermitStatus.APPROVED.value:
        return gettext("the waiting list (automatic)")
    if actor == service.SYSTEM_ACTOR:
        return gettext("automatic expiry")
    return actor


def summary_words(tab: str, first: int, last: int, total: int) -> str:
    """The queue's summary in one sentence per tab: 'Showing 1–20 of 23 approved permits.'"""
    from permit_service.i18n import page_ngettext as ngettext

    if not total:
        return {
            "pending": gettext("No applications are waiting for a decision."),
            "waitlisted": gettext("Nobody is on a waiting list."),
            "approved": gettext("No approved permits."),
            "revoked": gettext("No refused or revoked permits."),
            "expired": gettext("No expired applications."),
        }.get(tab, gettext("No permits."))
    values = {"first": first, "last": last}
    if tab == "pending":
        return ngettext(
            "Showing %(first)d–%(last)d of %(num)d application waiting for a decision.",
            "Showing %(first)d–%(last)d of %(num)d applications waiting for a decision.",
            total,
            **values,
        )
    if tab == "waitlisted":
        return ngettext(
            "Showing %(first)d–%(last)d of %(num)d permit on a waiting list.",
            "Showing %(first)d–%(last)d of %(num)d permits on a waiting list.",
            total,
            **values,
        )
    if tab == "approved":
        return ngettext(
            "Showing %(first)d–%(last)d of %(num)d approved permit.",
            "Showing %(first)d–%(last)d of %(num)d approved permits.",
            total,
            **values,
        )
    if tab == "revoked":
        return ngettext(
            "Showing %(first)d–%(last)d of %(num)d refused or revoked permit.",
            "Showing %(first)d–%(last)d of %(num)d refused or revoked permits.",
            total,
            **values,
        )
    if tab == "expired":
        return ngettext(
            "Showing %(first)d–%(last)d of %(num)d expired application.",
            "Showing %(first)d–%(last)d of %(num)d expired applications.",
            total,
            **values,
        )
    return ngettext(
        "Showing %(first)d–%(last)d of %(num)d permit.",
        "Showing %(first)d–%(last)d of %(num)d permits.",
        total,
        **values,
    )


def currency() -> str:
    """The ISO 4217 code of the fees (CURRENCY, default EUR)."""
    return str(current_app.config.get("CURRENCY") or "EUR")


def money(amount: Decimal | int | None) -> str:
    """An amount in the fees' currency, for the page's language: '€120.00', '120,00 €'."""
    if amount is None:
        return "—"
    return format_currency(Decimal(amount), currency())


def zone_name(zone: Any) -> str:
    """A zone's name for the page: the built-in zone's, in the page's language until renamed."""
    if zone.code == DEFAULT_ZONE and zone.name == DEFAULT_ZONE_NAME:
        return gettext("Whole city")
    return str(zone.name)


def zone_choice(name: str, monthly_fee: Decimal) -> str:
    """A zone in the apply form's select: 'North (€10.00 a month)', 'Whole city (free)'."""
    if not monthly_fee:
        return gettext("%(zone)s (free)", zone=name)
    return gettext("%(zone)s (%(fee)s a month)", zone=name, fee=money(monthly_fee))


# The e-mails to a resident (the permit's page), by notification kind and delivery state.
NOTIFICATION_KINDS = {
    "received": lazy_gettext("Application received"),
    "approved": lazy_gettext("Approved"),
    "waitlisted": lazy_gettext("On the waiting list"),
    "place_given": lazy_gettext("Place given from the waiting list"),
    "refused": lazy_gettext("Refused"),
    "revoked": lazy_gettext("Revoked"),
    "cancelled": lazy_gettext("Cancellation confirmed"),
    "expired": lazy_gettext("Application expired"),
    "renewed": lazy_gettext("Renewed"),
    "validity_ending": lazy_gettext("Validity ends soon"),
    "validity_ended": lazy_gettext("Validity ended"),
}
DELIVERY_WORDS = {
    "queued": lazy_gettext("Queued"),
    "sent": lazy_gettext("Sent"),
    "failed": lazy_gettext("Failed"),
}


def notification_words(note: Any) -> str:
    """What a notification told the resident, e.g. "Validity ends soon (in 7 days)"."""
    kind = str(NOTIFICATION_KINDS.get(note.kind, note.kind))
    if note.offset_seconds:
        before = localtime.duration_words(note.offset_seconds)
        return gettext("%(kind)s (%(before)s before)", kind=kind, before=before)
    return kind


def delivery_words(note: Any) -> str:
    """A notification's delivery state in words, with its attempts when it took more than one."""
    state = str(DELIVERY_WORDS.get(note.status, note.status))
    if note.attempts > 1 or (note.status != "sent" and note.attempts):
        return gettext("%(state)s after %(n)s attempts", state=state, n=note.attempts)
    return state
