"""Notification records, preferences, quiet hours, per-tenant template overrides and push subscriptions.

One ``notifications`` row per message per channel per recipient; in-app rows double as the user's inbox
(``read_at``). Every table is tenant-owned and row-level secured."""

from __future__ import annotations

import uuid
from datetime import datetime, time

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantLedMixin, TenantMixin

CHANNELS = ("email", "sms", "whatsapp", "push", "in_app")
STATUSES = ("queued", "sending", "sent", "delivered", "failed", "suppressed")
CATEGORIES = ("security", "booking", "reminder", "waitlist", "admin", "escalation", "clinical")


class Notification(IdMixin, TenantLedMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(f"channel IN {CHANNELS}", name="channel"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        Index("ix_notifications_due", "next_attempt_at", postgresql_where=text("status IN ('queued', 'sending')")),
        Index("ix_notifications_inbox", "tenant_id", "user_id", "created_at",
              postgresql_where=text("channel = 'in_app'")),
        # The rate limits count a tenant's (and a recipient's) recent messages on a channel.
        Index("ix_notifications_rate", "tenant_id", "channel", "created_at"),
        Index("ix_notifications_provider", "channel", "provider_id", postgresql_where=text("provider_id IS NOT NULL")),
        Index("uq_notifications_dedupe", "tenant_id", "dedupe_key", unique=True,
              postgresql_where=text("dedupe_key IS NOT NULL")),
    )  # fmt: skip

    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(12))
    category: Mapped[str] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(60))
    language: Mapped[str] = mapped_column(String(8), server_default="en")
    urgent: Mapped[bool] = mapped_column(server_default=text("false"))
    destination: Mapped[str | None] = mapped_column(String(1000))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))
    attachment_name: Mapped[str | None] = mapped_column(String(100))
    attachment: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), server_default="queued")
    suppressed_reason: Mapped[str | None] = mapped_column(String(40))
    held_reason: Mapped[str | None] = mapped_column(String(40))
    provider_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))
    error: Mapped[str | None] = mapped_column(String(500))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    source_id: Mapped[uuid.UUID | None] = mapped_column()  # e.g. the appointment
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    sent_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
    read_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()


class NotificationPreference(IdMixin, TenantMixin, Base):
    """An explicit choice; no row means the default (on)."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "channel", "category", name="uq_notification_pref"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(12))
    category: Mapped[str] = mapped_column(String(20))
    enabled: Mapped[bool] = mapped_column()


class NotificationQuietHours(IdMixin, TenantMixin, Base):
    """A user's own quiet hours, in the tenant's timezone."""

    __tablename__ = "notification_quiet_hours"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", name="uq_notification_quiet_user"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    starts: Mapped[time] = mapped_column()
    ends: Mapped[time] = mapped_column()


class NotificationTemplate(IdMixin, TenantMixin, Base):
    """A tenant's override of one template part (``subject``, ``txt``, ``html``)."""

    __tablename__ = "notification_templates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event", "channel", "language", "part", name="uq_notification_template"),
    )

    event: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(12))
    language: Mapped[str] = mapped_column(String(8))
    part: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(Text)


class PushSubscription(IdMixin, TenantMixin, Base):
    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("tenant_id", "endpoint", name="uq_push_endpoint"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000))
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
