"""Notifications: who gets what, on which channel, when; delivery with retries, then escalation.

``notify()`` runs in the caller's transaction (an event handler's): for each channel it records one row,
``queued`` (or ``suppressed`` with the reason: preference, rate limit, no destination), with its text rendered
from the templates; in-app rows are stored ``delivered`` at once. Quiet hours (the tenant's and the user's, in
the tenant's timezone) hold routine messages until they end; urgent clinical alerts and security codes do not
wait. ``deliver_due()`` (a periodic worker task) claims due rows with ``FOR UPDATE SKIP LOCKED`` and sends them:
a transient failure is retried with exponential backoff and jitter, a permanent one (a provider 4xx) fails at
once; after the last failure of a patient-facing message the tenant's receptionists get an in-app task."""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.clock import utcnow
from carebase.identity.models import Membership, User
from carebase.notifications import templates
from carebase.notifications.channels import Channels, DeliveryError, Message
from carebase.notifications.models import (
    Notification,
    NotificationPreference,
    NotificationQuietHours,
    PushSubscription,
)
from carebase.settings import get_settings
from carebase.tenancy.models import Organization
from carebase.tenancy.service import tenant_policy

log = logging.getLogger("carebase.notifications")

# Categories a user may switch off per channel; security codes always go out.
USER_CATEGORIES = ("booking", "reminder", "waitlist", "admin", "escalation")
USER_CHANNELS = ("email", "sms", "whatsapp", "push", "in_app")
NEVER_HELD = ("security",)
PATIENT_FACING = ("booking", "reminder", "waitlist")

_channels: Channels | None = None


def channels() -> Channels:
    global _channels
    if _channels is None or _channels.settings is not get_settings():
        _channels = Channels(get_settings())
    return _channels


def reset_channels() -> None:
    """Forget the cached channels (settings changed: tests)."""
    global _channels
    _channels = None


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: uuid.UUID | None
    email: str | None
    phone: str | None
    language: str = "en"
    name: str = ""


async def recipient_for_user(session: AsyncSession, user_id: uuid.UUID) -> Recipient | None:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    return Recipient(user.id, user.email, user.phone, user.language or "en", user.full_name)


# --- preferences and quiet hours ------------------------------------------------------------------------


async def preferences(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> dict[tuple[str, str], bool]:
    rows = await session.execute(
        select(NotificationPreference.channel, NotificationPreference.category, NotificationPreference.enabled).where(
            NotificationPreference.tenant_id == tenant_id, NotificationPreference.user_id == user_id
        )
    )
    return {(channel, category): enabled for channel, category, enabled in rows.all()}


async def set_preferences(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, choices: dict[tuple[str, str], bool]
) -> None:
    for (channel, category), enabled in choices.items():
        if channel not in USER_CHANNELS or category not in USER_CATEGORIES:
            continue  # security codes cannot be switched off
        stmt = insert(NotificationPreference).values(
            id=uuid.uuid4(), tenant_id=tenant_id, user_id=user_id, channel=channel, category=category, enabled=enabled
        )
        await session.execute(
            stmt.on_conflict_do_update(constraint="uq_notification_pref", set_={"enabled": stmt.excluded.enabled})
        )


async def user_quiet_hours(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[time, time] | None:
    row = (
        await session.execute(
            select(NotificationQuietHours).where(
                NotificationQuietHours.tenant_id == tenant_id, NotificationQuietHours.user_id == user_id
            )
        )
    ).scalar_one_or_none()
    return (row.starts, row.ends) if row else None


async def set_user_quiet_hours(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, hours: tuple[time, time] | None
) -> None:
    row = (
        await session.execute(
            select(NotificationQuietHours).where(
                NotificationQuietHours.tenant_id == tenant_id, NotificationQuietHours.user_id == user_id
            )
        )
    ).scalar_one_or_none()
    if hours is None:
        if row is not None:
            await session.delete(row)
    elif row is None:
        session.add(NotificationQuietHours(tenant_id=tenant_id, user_id=user_id, starts=hours[0], ends=hours[1]))
    else:
        row.starts, row.ends = hours
    await session.flush()


def quiet_until(now: datetime, tz: str, windows: list[tuple[time, time]]) -> datetime | None:
    """When the quiet hours that contain ``now`` end (UTC), or None outside them. Windows may cross midnight
    (21:00-08:00); the end is computed in the zone, so DST is honoured."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    latest: datetime | None = None
    for starts, ends in windows:
        if starts == ends:
            continue
        t = local.time().replace(tzinfo=None)
        inside = starts <= t < ends if starts < ends else (t >= starts or t < ends)
        if not inside:
            continue
        end_day = local.date() if (starts < ends or t < ends) else local.date() + timedelta(days=1)
        end = datetime.combine(end_day, ends, tzinfo=zone)
        latest = end if latest is None or end > latest else latest
    if latest is None:
        return None
    # Chained windows (the tenant's ends inside the user's): check again from the end.
    later = quiet_until(latest, tz, [w for w in windows if w[0] != w[1]]) if latest > now else None
    return (later or latest).astimezone(ZoneInfo("UTC"))


# --- rate limits -----------------------------------------------------------------------------------------


def _limit(spec: str) -> tuple[int, int]:
    count, _, seconds = spec.partition("/")
    return int(count), int(seconds)


async def _rate_limited(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID | None, channel: str, now: datetime
) -> bool:
    cfg = get_settings().notifications
    recent = select(Notification.id).where(
        Notification.tenant_id == tenant_id, Notification.channel == channel,
        Notification.status.notin_(("suppressed",)),
    )  # fmt: skip
    count, seconds = _limit(cfg.per_tenant_channel)
    if await _at_least(session, recent.where(Notification.created_at > now - timedelta(seconds=seconds)), count):
        return True
    if user_id is None:
        return False
    count, seconds = _limit(cfg.per_recipient)
    mine = recent.where(Notification.user_id == user_id, Notification.created_at > now - timedelta(seconds=seconds))
    return await _at_least(session, mine, count)


async def _at_least(session: AsyncSession, rows: Select[Any], n: int) -> bool:
    """Whether ``rows`` has ``n`` rows or more, reading at most ``n`` (index ``ix_notifications_rate``)."""
    found = await session.scalar(select(func.count()).select_from(rows.limit(n).subquery()))
    return (found or 0) >= n


# --- notify ----------------------------------------------------------------------------------------------


async def notify(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    recipient: Recipient,
    *,
    event: str,
    category: str,
    context: dict[str, Any],
    channels_wanted: tuple[str, ...] = ("in_app", "email", "phone", "push"),
    urgent: bool = False,
    dedupe: str | None = None,
    source_id: uuid.UUID | None = None,
    link: str | None = None,
    attachment: tuple[str, str, str] | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """Record the message for each wanted channel (``phone``: WhatsApp when configured, else SMS)."""
    now = now or utcnow()
    org = await session.get(Organization, tenant_id)
    tz = org.timezone if org else "UTC"
    prefs = await preferences(session, tenant_id, recipient.user_id) if recipient.user_id else {}
    held: datetime | None = None
    if not urgent and category not in NEVER_HELD:
        policy = await tenant_policy(session, tenant_id)
        windows = [(policy.quiet_hours_start, policy.quiet_hours_end)] if policy.quiet_hours_enabled else []
        if recipient.user_id and (own := await user_quiet_hours(session, tenant_id, recipient.user_id)):
            windows.append(own)
        held = quiet_until(now, tz, windows)
    context = {"tenant_name": org.name if org else "Carebase", **context}
    created: list[Notification] = []
    for wanted in channels_wanted:
        channel = channels().for_phone() if wanted == "phone" else wanted
        if channel is None:
            continue
        destinations = await _destinations(session, tenant_id, recipient, channel)
        if not destinations:
            continue
        for destination, keys in destinations:
            row: dict[str, Any] = {
                "id": uuid.uuid4(), "tenant_id": tenant_id, "user_id": recipient.user_id, "channel": channel,
                "category": category, "template": event, "language": templates.language_of(recipient.language),
                "urgent": urgent, "destination": destination, "link": link, "source_id": source_id,
                "created_at": now, "next_attempt_at": now,
                "dedupe_key": f"{dedupe}:{channel}:{recipient.user_id or destination}"[:200] if dedupe else None,
            }  # fmt: skip
            if keys:
                row["attachment_name"], row["attachment"] = "push-keys", f"{keys[0]} {keys[1]}"
            reason = _suppression(category, channel, prefs)
            if reason is None and category not in NEVER_HELD and channel != "in_app":
                if await _rate_limited(session, tenant_id, recipient.user_id, channel, now):
                    reason = "rate_limit"
            if reason:
                row.update(status="suppressed", suppressed_reason=reason, next_attempt_at=None)
            else:
                rendered = await templates.render(session, tenant_id, event, channel, recipient.language, context)
                row.update(subject=rendered.subject[:300], body=rendered.text, html=rendered.html)
                if channel == "in_app":
                    row.update(status="delivered", delivered_at=now, next_attempt_at=None, destination=None)
                elif held is not None:
                    row.update(next_attempt_at=held, held_reason="quiet_hours")
                if channel == "email" and attachment:
                    row["attachment_name"], row["attachment"] = attachment[0], attachment[1]
            stmt = insert(Notification).values(**row).on_conflict_do_nothing(
                index_elements=["tenant_id", "dedupe_key"], index_where=Notification.dedupe_key.is_not(None)
            )
            inserted = (await session.scalars(stmt.returning(Notification))).one_or_none()
            if inserted is not None:
                created.append(inserted)
                if inserted.channel == "in_app" and inserted.status == "delivered" and inserted.user_id:
                    await _announce(session, inserted)
    return created


async def _announce(session: AsyncSession, n: Notification) -> None:
    """Tell the user's open screens (``notification.created`` → the ``user:`` topic: bell count and toast), after
    commit like every event. Title and link only: the body stays behind the inbox API."""
    from carebase.core.outbox import emit

    unread = await session.scalar(
        select(func.count()).where(Notification.tenant_id == n.tenant_id, Notification.user_id == n.user_id,
                                   Notification.channel == "in_app", Notification.read_at.is_(None),
                                   Notification.status == "delivered")
    )  # fmt: skip
    await emit(session, n.tenant_id, "notification.created", {
        "notification_id": str(n.id), "user_id": str(n.user_id), "category": n.category, "title": n.subject or "",
        "unread_count": int(unread or 0), "url": n.link or "/account/notifications",
    })  # fmt: skip


def _suppression(category: str, channel: str, prefs: dict[tuple[str, str], bool]) -> str | None:
    if category in NEVER_HELD:
        return None
    if prefs.get((channel, category), True) is False:
        return "preference"
    return None


async def _destinations(
    session: AsyncSession, tenant_id: uuid.UUID, recipient: Recipient, channel: str
) -> list[tuple[str | None, tuple[str, str] | None]]:
    if channel == "in_app":
        return [(None, None)] if recipient.user_id else []
    if channel == "email":
        return [(recipient.email, None)] if recipient.email and channels().get("email") else []
    if channel in ("sms", "whatsapp"):
        return [(recipient.phone, None)] if recipient.phone and channels().get(channel) else []
    if channel == "push" and recipient.user_id and channels().get("push"):
        subs = (
            await session.execute(
                select(PushSubscription).where(
                    PushSubscription.tenant_id == tenant_id, PushSubscription.user_id == recipient.user_id
                )
            )
        ).scalars()
        return [(s.endpoint, (s.p256dh, s.auth)) for s in subs]
    return []


# --- delivery --------------------------------------------------------------------------------------------


def backoff(attempts: int) -> float:
    cfg = get_settings().notifications
    delay = min(cfg.backoff_base_seconds * 2 ** max(attempts - 1, 0), cfg.backoff_max_seconds)
    return delay * random.uniform(0.8, 1.2)  # noqa: S311  (jitter, not security)


def status_callback_url(channel: str) -> str | None:
    if channel == "sms":
        return f"{get_settings().public_base_url.rstrip('/')}/webhooks/sms/status"
    return None


def message_of(n: Notification) -> Message:
    attachment = None
    push_keys = None
    if n.channel == "push" and n.attachment:
        p256dh, _, auth = n.attachment.partition(" ")
        push_keys = (p256dh, auth)
    elif n.attachment and n.attachment_name:
        attachment = (n.attachment_name, n.attachment, "text/calendar")
    return Message(
        to=n.destination or "", subject=n.subject or "", text=n.body or "", html=n.html, category=n.category,
        attachment=attachment, template=n.template, tenant_id=n.tenant_id, user_id=n.user_id,
        status_callback=status_callback_url(n.channel), push_keys=push_keys,
    )  # fmt: skip


async def deliver_due(session: AsyncSession, *, limit: int = 50, now: datetime | None = None) -> int:
    """Send the due messages (owner session: every tenant). Safe with several workers (SKIP LOCKED)."""
    now = now or utcnow()
    rows = (
        await session.execute(
            select(Notification)
            .where(Notification.status == "queued", Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).scalars().all()  # fmt: skip
    for n in rows:
        await attempt(session, n, now=now)
    await session.flush()
    return len(rows)


async def attempt(session: AsyncSession, n: Notification, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    channel = channels().get(n.channel)
    n.attempts += 1
    n.held_reason = None
    try:
        if channel is None:
            raise DeliveryError(f"{n.channel} is not configured", permanent=True)
        provider_id = await channel.send(message_of(n))
    except DeliveryError as exc:
        if n.channel == "push" and exc.reason in ("push 404", "push 410"):
            await _drop_push_subscription(session, n)  # the browser unsubscribed: not a failure to escalate
            n.status, n.error, n.next_attempt_at = "failed", "subscription expired", None
            return
        await _failed(session, n, exc.reason, permanent=exc.permanent, now=now)
        return
    except Exception as exc:  # a bug in a channel: retried like an outage, logged without content
        log.exception("channel crashed", extra={"channel": n.channel})
        await _failed(session, n, type(exc).__name__, permanent=False, now=now)
        return
    n.status, n.sent_at, n.provider_id, n.error, n.next_attempt_at = "sent", now, provider_id, None, None


async def _drop_push_subscription(session: AsyncSession, n: Notification) -> None:
    subs = await session.execute(
        select(PushSubscription).where(PushSubscription.tenant_id == n.tenant_id,
                                       PushSubscription.endpoint == n.destination)
    )  # fmt: skip
    for sub in subs.scalars():
        await session.delete(sub)


async def _failed(session: AsyncSession, n: Notification, reason: str, *, permanent: bool, now: datetime) -> None:
    n.error = reason[:500]
    if permanent or n.attempts >= get_settings().notifications.max_attempts:
        n.status, n.next_attempt_at = "failed", None
        log.warning("notification failed", extra={"channel": n.channel, "template": n.template,
                                                  "attempts": n.attempts, "permanent": permanent})  # fmt: skip
        await escalate(session, n, now=now)
    else:
        n.next_attempt_at = now + timedelta(seconds=backoff(n.attempts))


async def escalate(session: AsyncSession, n: Notification, *, now: datetime) -> None:
    """After the last failure of a patient-facing message, an in-app task for the tenant's receptionists."""
    if n.category not in PATIENT_FACING or n.escalated_at is not None:
        return
    n.escalated_at = now
    patient_name = ""
    if n.user_id:
        user = await session.get(User, n.user_id)
        patient_name = user.full_name if user else ""
    receptionists = (
        await session.execute(
            select(Membership.user_id).where(Membership.tenant_id == n.tenant_id, Membership.role == "receptionist",
                                             Membership.status == "active")
        )
    ).scalars().all()  # fmt: skip
    for user_id in receptionists:
        recipient = await recipient_for_user(session, user_id)
        if recipient is None:
            continue
        await notify(
            session, n.tenant_id, recipient, event="delivery_escalation", category="escalation",
            context={"patient_name": patient_name or "a patient", "about": n.category, "channel": n.channel,
                     "error": n.error or ""},
            channels_wanted=("in_app",), urgent=True, dedupe=f"escalation:{n.id}", source_id=n.source_id,
            link="/desk", now=now,
        )  # fmt: skip


# --- provider status callbacks ----------------------------------------------------------------------------

_PROVIDER_STATUS = {
    "queued": None, "accepted": None, "sending": None, "sent": "sent", "delivered": "delivered", "read": "delivered",
    "undelivered": "failed", "failed": "failed",
}  # fmt: skip


async def record_provider_status(
    session: AsyncSession, notification_id: uuid.UUID, provider_status: str, error: str | None, now: datetime
) -> None:
    n = await session.get(Notification, notification_id, with_for_update=True)
    status = _PROVIDER_STATUS.get(provider_status)
    if n is None or status is None or n.status == "delivered":
        return
    if status == "delivered":
        n.status, n.delivered_at, n.error = "delivered", now, None
    elif status == "failed":
        n.status, n.error = "failed", (error or provider_status)[:500]
        await escalate(session, n, now=now)
    elif n.status in ("queued", "sent"):
        n.status = "sent"
    await session.flush()
