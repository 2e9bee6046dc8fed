"""ORM classes only: columns, indexes, relationships, trivial properties."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from permit_service import clock
from permit_service.domain import OPEN_STATUSES, PermitStatus
from permit_service.domain_users import HasRole
from permit_service.extensions import db
from permit_service.references import new_reference


def utcnow() -> datetime:
    """Current time, timezone-aware UTC, from the clock seam (a callable default, per row)."""
    return clock.now()


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes everywhere (SQLite stores them naive, PostgreSQL as timestamptz)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Any:
        """On SQLite one function per value instead of TypeDecorator's two: a 50-permit page
        reads 300 of them (issue 17). The stored text (naive UTC) is read as an aware datetime
        at once, by `fromisoformat` with the offset appended: `replace(tzinfo=UTC)` after
        SQLAlchemy's parse cost four times the parse. Anything else (text with an offset of
        its own, ...) is read as before."""
        parse = self.impl_instance.result_processor(dialect, coltype)
        if dialect.name != "sqlite" or parse is None:
            return super().result_processor(dialect, coltype)
        fromisoformat = datetime.fromisoformat

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            try:
                return fromisoformat(value + "+00:00")
            except (TypeError, ValueError):
                return parse(value).replace(tzinfo=UTC)

        return process


_OPEN = "status IN ({})".format(", ".join(f"'{s.value}'" for s in sorted(OPEN_STATUSES)))
_STATUSES = ", ".join(f"'{s.value}'" for s in PermitStatus)
# Stored ended and still holding personal data: what retention may anonymise (migration 0015).
ENDED_NOT_ANONYMISED = "status IN ('expired', 'revoked') AND anonymised_at IS NULL"
PARTIAL_WHERE = "partial_where"  # Index.info key: the rows a partial index holds


def _partial(where: str) -> dict[str, Any]:
    """Options of a partial index holding the rows `where` selects (SQLite and PostgreSQL).

    PostgreSQL's copy is set by use_postgresql_where(): naming a `postgresql_` option here
    would import SQLAlchemy's PostgreSQL dialect at every process start (~35 ms, SQLite too).
    """
    return {"sqlite_where": sa.text(where), "info": {PARTIAL_WHERE: where}}


def use_postgresql_where(metadata: sa.MetaData) -> None:
    """Give every partial index its PostgreSQL WHERE (an app on PostgreSQL calls this)."""
    for table in metadata.tables.values():
        for index in table.indexes:
            where = index.info.get(PARTIAL_WHERE)
            if where is not None:
                index.dialect_options["postgresql"]["where"] = sa.text(where)


DEFAULT_ZONE = "CITY"  # migration 0008 creates it, open, no quota, fee 0
DEFAULT_ZONE_NAME = "Whole city"  # its name as created (shown translated until renamed)


class Zone(db.Model):
    """An area permits belong to: its quota of valid permits, its monthly fee, open or closed.

    `valid_permits` counts the zone's permits STORED as approved; services.zones (decisions,
    places given) and services.lifecycle.leave_places (time events) move it in the same
    transaction as every change into or out of approved. The database refuses to let it
    pass the quota (CHECK within_quota): a plain increment can never exceed it. `surplus` is how
    far it stood above the quota when the quota was lowered below it (lowering revokes nothing);
    it shrinks with each permit that leaves, so no place is given until the count is under the
    new quota, and CHECK surplus_exact ties it to exactly that excess.
    """

    __tablename__ = "zones"

    code: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    quota: Mapped[int | None] = mapped_column(sa.Integer)
    monthly_fee: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal("0.00"))
    open: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    valid_permits: Mapped[int] = mapped_column(sa.Integer, default=0)
    surplus: Mapped[int] = mapped_column(sa.Integer, default=0)

    __table_args__ = (
        sa.CheckConstraint("quota IS NULL OR quota >= 0", name="quota_not_negative"),
        sa.CheckConstraint("monthly_fee >= 0", name="fee_not_negative"),
        sa.CheckConstraint("valid_permits >= 0 AND surplus >= 0", name="counts_not_negative"),
        sa.CheckConstraint(
            "quota IS NULL OR valid_permits <= quota + surplus", name="within_quota"
        ),
        sa.CheckConstraint(
            "surplus = 0 OR (quota IS NOT NULL AND valid_permits = quota + surplus)",
            name="surplus_exact",
        ),
    )


class Permit(db.Model):
    """A resident's application for a parking permit, and its current status."""

    __tablename__ = "permits"

    id: Mapped[str] = mapped_column(
        sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4())
    )
    name: Mapped[str] = mapped_column(sa.String(120))
    license_plate: Mapped[str] = mapped_column(sa.String(20))
    plate_key: Mapped[str] = mapped_column(sa.String(10))  # letters+digits: ABC-123 -> ABC123
    address: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    status: Mapped[str] = mapped_column(sa.String(16), default=PermitStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Short reference for phone and letters (permit_service.references), unique.
    reference: Mapped[str] = mapped_column(sa.String(9), default=new_reference)
    # Validity of an approved permit: null before approval, kept after it ends (migration 0006).
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The permit's zone (migration 0008), when it joined the zone's waiting list, and its fee
    # (the zone's monthly fee x months of validity, fixed when the validity starts).
    zone: Mapped[str] = mapped_column(sa.String(10), sa.ForeignKey("zones.code"))
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fee: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    # The language the resident applied in ("en", "de"): their e-mails speak it (migration 0009).
    language: Mapped[str] = mapped_column(sa.String(8), default="en", server_default="en")
    # When retention (services.retention) removed its resident's data: name, address and
    # plate are then '' (ANONYMISED), e-mail null. Only ended permits, which never reopen.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_STATUSES})", name="status_valid"),
        # Newest-first listing, overall and per status. expires_at rides along so the
        # exact-deadline filter and OFFSET are answered from the index alone (migration 0003).
        sa.Index("ix_permits_created_at_id", "created_at", "id"),
        # valid_until too (migration 0006): approved permits' exact end of validity likewise.
        sa.Index(
            "ix_permits_status_created_at",
            "status",
            "created_at",
            "id",
            "expires_at",
            "valid_until",
        ),
        # The sweep (batches keyed by deadline, id) and the exact-deadline filters: pending
        # rows by deadline, approved rows by end of validity. Partial, so a permit leaving the
        # status adds no entry (migration 0007).
        sa.Index(
            "ix_permits_pending_expires_at",
            "expires_at",
            "id",
            "status",  # SQLite: only then does it read a due range from the index alone
            **_partial("status = 'pending'"),
        ),
        sa.Index(
            "ix_permits_approved_valid_until",
            "valid_until",
            "id",
            "status",
            **_partial("status = 'approved'"),
        ),
        sa.Index("uq_permits_reference", "reference", unique=True),
        # A zone's permits by status: counts, listings newest first (migration 0016).
        sa.Index("ix_permits_zone_status_created_at", "zone", "status", "created_at", "id"),
        # A zone's waiting line in order and its place counts (a range bounded by the permit's
        # own key). Partial (migration 0016): the sweep's permits are never in it.
        sa.Index(
            "ix_permits_zone_waitlisted_at",
            "zone",
            "waitlisted_at",
            "id",
            "status",  # SQLite: only then does it count a place in line from the index alone
            **_partial("status = 'waitlisted'"),
        ),
        # Lookup by plate, newest first.
        sa.Index("ix_permits_plate_key_created_at", "plate_key", "created_at", "id"),
        # A zone's approved permits in id order: the keyset pages of GET /enforcement/permits
        # (migration 0014).
        sa.Index("ix_permits_zone_approved_id", "zone", "id", **_partial("status = 'approved'")),
        # The queue's earlier permits of an address, any letter case (migration 0010).
        sa.Index("ix_permits_address_created_at", sa.func.lower(address), "created_at"),
        # Retention's candidates: ended permits still holding personal data, by when they
        # ended (migration 0015). Partial, so it shrinks as they are anonymised.
        sa.Index(
            "ix_permits_ended_not_anonymised",
            "updated_at",
            "id",
            **_partial(ENDED_NOT_ANONYMISED),
        ),
        # At most one open permit per plate, enforced by the database (partial unique index).
        sa.Index(
            "uq_permits_open_plate",
            "plate_key",
            unique=True,
            **_partial(_OPEN),
        ),
    )


class PermitCount(db.Model):
    """How many permits are in each stored status.

    Kept exact by the service layer alone: every write to `permits` moves these counts in its
    own transaction through services.lifecycle.move_counts (migration 0004 dropped the triggers).
    """

    __tablename__ = "permit_counts"

    status: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    n: Mapped[int] = mapped_column(sa.BigInteger)


def ahead_in_line(
    ahead: Any, zone: Any, waitlisted_at: Any, permit_id: Any
) -> sa.ColumnElement[bool]:
    """`ahead` (the permits table or an alias of it) is in `zone`'s waiting line before the
    permit placed at (`waitlisted_at`, `permit_id`): first come, first served, ties by id (the
    order in which zones give places). One range of the partial index
    ix_permits_zone_waitlisted_at (migration 0016): the status is spelled out, not bound, so
    the index's WHERE matches."""
    return sa.and_(
        ahead.c.zone == zone,
        ahead.c.status
        == sa.literal_column(f"'{PermitStatus.WAITLISTED.value}'", ahead.c.status.type),
        sa.tuple_(ahead.c.waitlisted_at, ahead.c.id) < sa.tuple_(waitlisted_at, permit_id),
    )


class PermitEvent(db.Model):
    """One recorded status change of a permit (the audit trail)."""

    __tablename__ = "permit_events"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    permit_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("permits.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.String(254))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # A month's events in one index range: the monthly report (migration 0013).
    __table_args__ = (sa.Index("ix_permit_events_created_at", "created_at"),)


class Notification(db.Model):
    """One message to a permit's resident: the outbox row, written with the change it tells of.

    services.notifications writes them, services.delivery sends them. `next_attempt_at` is when
    a send may be tried next: the backoff after a failure, or the lease of a send in progress (a
    worker that dies mid-send leaves it to run out, then the sweep's delivery sends it). It is
    composed when sent, from the permit and the values kept here as they were at the change
    (`reason`, `place`, `period_end`: the end of validity it speaks of, `deadline`: the
    application's, `offset_seconds`: a reminder's), in the permit's language.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # A resident's message names its permit; a staff member's (an export ready, the monthly
    # report) names its recipient and what it is about (`subject_ref`), in `language`.
    permit_id: Mapped[str | None] = mapped_column(
        sa.String(36), sa.ForeignKey("permits.id", ondelete="CASCADE")
    )
    recipient: Mapped[str | None] = mapped_column(sa.String(254))
    subject_ref: Mapped[str | None] = mapped_column(sa.String(64))
    language: Mapped[str | None] = mapped_column(sa.String(8))
    kind: Mapped[str] = mapped_column(sa.String(24))
    status: Mapped[str] = mapped_column(sa.String(8), default="queued")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    place: Mapped[int | None] = mapped_column(sa.Integer)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())  # received: decide by
    offset_seconds: Mapped[int | None] = mapped_column(sa.Integer)

    __table_args__ = (
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name="status_valid"),
        sa.CheckConstraint("permit_id IS NOT NULL OR recipient IS NOT NULL", name="addressed"),
        sa.Index("ix_notifications_permit_id_id", "permit_id", "id"),
        # What is waiting to be sent, soonest first (the sweep's look for lost tasks).
        sa.Index(
            "ix_notifications_queued",
            "next_attempt_at",
            "id",
            **_partial("status = 'queued'"),
        ),
        # A reminder once per offset and validity period, whatever runs concurrently.
        sa.Index(
            "uq_notifications_reminder",
            "permit_id",
            "offset_seconds",
            "period_end",
            unique=True,
            **_partial("kind = 'validity_ending'"),
        ),
    )


EXPORT_STATUSES = ("queued", "running", "done", "failed")


class Export(db.Model):
    """A CSV export of the permits a filter selects (services.exports), requested by a staff user.

    The CSV lives in `export_chunks`, in the database, so any web process can serve it. `attempt`
    is the lease of the run that writes it: a run that finds it changed (the sweep gave a lost run
    to a new one) stops writing. `first_ended_at` is the earliest end among the ended (revoked,
    expired) permits written into it: data retention deletes the export when it anonymises a
    permit that ended on or after it (migration 0012).
    """

    __tablename__ = "exports"

    id: Mapped[str] = mapped_column(
        sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4())
    )
    requested_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    # The filter (SPEC.md section 10): effective status, zone, time of application.
    status_filter: Mapped[str | None] = mapped_column(sa.String(16))
    zone_filter: Mapped[str | None] = mapped_column(sa.String(10))
    created_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(sa.String(8), default="queued")
    row_count: Mapped[int] = mapped_column(sa.Integer, default=0)  # the API's `rows`
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # bytes of CSV written
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0)
    language: Mapped[str] = mapped_column(sa.String(8), default="en")  # of the e-mail
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A running export's last sign of life; a queued one's last hand-over to a worker.
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(sa.String(500))
    first_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in EXPORT_STATUSES)),
            name="status_valid",
        ),
        sa.CheckConstraint("row_count >= 0 AND size >= 0 AND attempt >= 0", name="counts_valid"),
        # Retention: the oldest first.
        sa.Index("ix_exports_created_at", "created_at"),
        sa.Index("ix_exports_requested_by", "requested_by"),
        # The sweep's look for lost runs: unfinished exports by their last sign of life.
        sa.Index(
            "ix_exports_unfinished",
            "heartbeat_at",
            **_partial("status IN ('queued', 'running')"),
        ),
    )


class ExportChunk(db.Model):
    """One piece of an export's CSV, in order of `seq`: written and served a piece at a time."""

    __tablename__ = "export_chunks"

    export_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class PermitRead(db.Model):
    """One staff read of residents' data (the read audit, services.audit): who, when, what.

    `permit_id` is null for reads of many permits at once (an export), which `detail` names.
    Deleted after RETENTION_DAYS (services.retention).
    """

    __tablename__ = "permit_reads"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    permit_id: Mapped[str | None] = mapped_column(
        sa.String(36), sa.ForeignKey("permits.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    what: Mapped[str] = mapped_column(sa.String(24))
    detail: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = db.relationship(lazy="joined")

    __table_args__ = (
        sa.Index("ix_permit_reads_permit_id_id", "permit_id", "id"),
        sa.Index("ix_permit_reads_created_at", "created_at"),
    )


class Report(db.Model):
    """A month's report (services.reports): its PDF, kept in the database so any web process
    serves it, and the numbers it shows. One row per month; making it again replaces it."""

    __tablename__ = "reports"

    month: Mapped[str] = mapped_column(sa.String(7), primary_key=True)  # YYYY-MM, city's time
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    language: Mapped[str] = mapped_column(sa.String(8))
    numbers: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    pdf: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)

    __table_args__ = (
        sa.CheckConstraint("length(month) = 7 AND substr(month, 5, 1) = '-'", name="month_shape"),
    )


class User(HasRole, UserMixin, db.Model):
    """An administrator or viewer of the back office."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16), default="viewer")
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        sa.Index("uq_users_email_lower", sa.func.lower(email), unique=True),
        sa.CheckConstraint("role IN ('admin', 'viewer', 'enforcer')", name="role_valid"),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login; the web adapter stores the StaffSession key instead
        return str(self.id)


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = db.relationship(lazy="joined")


class StaffSession(db.Model):
    """A signed-in web session of a staff user; the cookie holds a key whose digest is `key_hash`.

    Deleting the row (sign-out, deactivation, revoke-tokens, an idle or absolute limit) makes
    every copy of the cookie useless.
    """

    __tablename__ = "staff_sessions"

    key_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = db.relationship(lazy="joined")


class EnforcementCheck(db.Model):
    """One answered enforcement check (SPEC.md section 11), kept ENFORCEMENT_LOG_HOURS.

    Written in batches by services.check_log (never in the request); deleted by the sweep.
    `user_id` has no foreign key: a check must not wait on the users table, and accounts are
    deactivated, never deleted. `plate_key` is the plate's letters and digits (domain.plate_key).
    """

    __tablename__ = "enforcement_checks"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[int] = mapped_column(sa.Integer)
    plate_key: Mapped[str] = mapped_column(sa.String(10))
    zone: Mapped[str] = mapped_column(sa.String(10))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    permitted: Mapped[bool] = mapped_column(sa.Boolean)

    __table_args__ = (
        # The sweep deletes the oldest rows first, in bounded batches (an index range).
        sa.Index("ix_enforcement_checks_checked_at_id", "checked_at", "id"),
    )
