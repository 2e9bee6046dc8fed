"""The words the pages use for statuses, history entries and actors, in the page's language.

One status word per state everywhere (receipt, queue, history). A pending application that an
officer revokes is "refused"; an approved permit that is revoked is "revoked". The API keeps
`revoked` for both; the permit's history tells them apart (the revocation's from_status).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import gettext, lazy_gettext

from permit_service.domain import PermitStatus
from permit_service.services import permits as service

STATUS_WORDS = {
    PermitStatus.PENDING: lazy_gettext("Waiting for a decision"),
    PermitStatus.APPROVED: lazy_gettext("Approved"),
    PermitStatus.REVOKED: lazy_gettext("Revoked"),
    PermitStatus.EXPIRED: lazy_gettext("Expired"),
}
REFUSED = lazy_gettext("Refused")

# The queue's tabs: what the rows of each are called in "Showing 1-20 of 23 ...".
TAB_LABELS = {
    "pending": lazy_gettext("Waiting for a decision"),
    "approved": lazy_gettext("Approved"),
    "revoked": lazy_gettext("Refused or revoked"),
    "expired": lazy_gettext("Expired"),
    "all": lazy_gettext("All"),
}


def was_refused(events: Iterable[Any]) -> bool:
    """True when the permit's last revocation came while it was pending (a refusal)."""
    revocations = [e for e in events if e.to_status == PermitStatus.REVOKED.value]
    return bool(revocations) and revocations[-1].from_status == PermitStatus.PENDING.value


def status_word(status: PermitStatus | str, refused: bool = False) -> str:
    """The status in words: 'Waiting for a decision', 'Approved', 'Refused', 'Revoked'..."""
    status = PermitStatus(status)
    if status is PermitStatus.REVOKED and refused:
        return str(REFUSED)
    return str(STATUS_WORDS[status])


def event_words(event: Any) -> str:
    """A history entry in the interface's words: 'Applied', 'Waiting for a decision → Refused'."""
    if not event.from_status:
        return gettext("Applied: %(status)s", status=status_word(event.to_status))
    refused = event.from_status == PermitStatus.PENDING.value
    return gettext(
        "%(before)s → %(after)s",
        before=status_word(event.from_status),
        after=status_word(event.to_status, refused=refused),
    )


def actor_words(actor: str) -> str:
    """Who made a change: an officer's e-mail address, 'the resident' or 'automatic expiry'."""
    if actor == service.APPLICANT_ACTOR:
        return gettext("the resident")
    if actor == service.SYSTEM_ACTOR:
        return gettext("automatic expiry")
    return actor


def summary_words(tab: str, first: int, last: int, total: int) -> str:
    """The queue's summary in one sentence per tab: 'Showing 1–20 of 23 approved permits.'"""
    from flask_babel import ngettext

    if not total:
        return {
            "pending": gettext("No applications are waiting for a decision."),
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
