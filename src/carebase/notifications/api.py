"""The signed-in user's notifications and preferences (``/my/...``): any role, their own rows only."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, field_validator, model_validator

from carebase.core.schemas import WriteModel
from carebase.identity.deps import Auth
from carebase.notifications import inbox, service, subscriptions
from carebase.notifications.models import Notification

router = APIRouter(tags=["notifications"])


class NotificationRead(BaseModel):
    id: uuid.UUID
    category: str
    template: str
    subject: str | None
    body: str | None
    link: str | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, n: Notification) -> NotificationRead:
        return cls(id=n.id, category=n.category, template=n.template, subject=n.subject, body=n.body, link=n.link,
                   created_at=n.created_at, read_at=n.read_at)  # fmt: skip


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None = None


class UnreadCount(BaseModel):
    unread: int


Channel = Literal["email", "sms", "whatsapp", "push", "in_app"]
Category = Literal["booking", "reminder", "waitlist", "admin", "escalation"]


class PreferenceItem(BaseModel):
    channel: Channel
    category: Category
    enabled: bool


class QuietHours(BaseModel):
    starts: time
    ends: time

    @model_validator(mode="after")
    def _a_window(self) -> QuietHours:
        if self.starts == self.ends:
            raise ValueError("Quiet hours must start and end at different times.")
        return self


class PreferencesRead(BaseModel):
    preferences: list[PreferenceItem]
    quiet_hours: QuietHours | None = None


class PreferencesUpdate(WriteModel):
    preferences: list[PreferenceItem] = Field(default_factory=list, max_length=50)
    quiet_hours: QuietHours | None = None


@router.get("/my/notifications", response_model=NotificationPage)
async def my_notifications(
    ctx: Auth, cursor: str | None = Query(None, max_length=100), limit: int = Query(20, ge=1, le=50),
    unread: bool = False,
) -> NotificationPage:  # fmt: skip
    rows = await inbox.list_for(ctx.session, ctx.principal.user_id, before=inbox.parse_cursor(cursor), limit=limit + 1,
                                unread_only=unread)  # fmt: skip
    page = rows[:limit]
    return NotificationPage(items=[NotificationRead.of(n) for n in page],
                            next_cursor=inbox.cursor(page[-1]) if len(rows) > limit else None)  # fmt: skip


@router.get("/my/notifications/unread-count", response_model=UnreadCount)
async def my_unread_count(ctx: Auth) -> UnreadCount:
    return UnreadCount(unread=await inbox.unread_count(ctx.session, ctx.principal.user_id))


@router.post("/my/notifications/{notification_id}/read", response_model=NotificationRead)
async def mark_read(notification_id: uuid.UUID, ctx: Auth) -> NotificationRead:
    return NotificationRead.of(await inbox.mark_read(ctx.session, ctx.principal.user_id, notification_id))


async def _read_preferences(ctx: Auth) -> PreferencesRead:  # type: ignore[valid-type]
    p = ctx.principal  # type: ignore[attr-defined]
    prefs = await service.preferences(ctx.session, p.tenant_id, p.user_id)  # type: ignore[attr-defined]
    items = [
        PreferenceItem(channel=ch, category=cat, enabled=prefs.get((ch, cat), True))  # type: ignore[arg-type]
        for cat in service.USER_CATEGORIES for ch in service.USER_CHANNELS
    ]  # fmt: skip
    quiet = await service.user_quiet_hours(ctx.session, p.tenant_id, p.user_id)  # type: ignore[attr-defined]
    return PreferencesRead(preferences=items, quiet_hours=QuietHours(starts=quiet[0], ends=quiet[1]) if quiet else None)


@router.get("/my/notification-preferences", response_model=PreferencesRead)
async def get_preferences(ctx: Auth) -> PreferencesRead:
    return await _read_preferences(ctx)


@router.put("/my/notification-preferences", response_model=PreferencesRead)
async def put_preferences(body: PreferencesUpdate, ctx: Auth) -> PreferencesRead:
    p = ctx.principal
    await service.set_preferences(ctx.session, p.tenant_id, p.user_id,
                                  {(i.channel, i.category): i.enabled for i in body.preferences})  # fmt: skip
    hours = (body.quiet_hours.starts, body.quiet_hours.ends) if body.quiet_hours else None
    await service.set_user_quiet_hours(ctx.session, p.tenant_id, p.user_id, hours)
    return await _read_preferences(ctx)


class PushKeys(WriteModel):
    p256dh: str = Field(max_length=100)
    auth: str = Field(max_length=40)

    @field_validator("p256dh")
    @classmethod
    def _p256dh(cls, value: str) -> str:
        return subscriptions.check_key(value, subscriptions.P256DH_BYTES, "p256dh")

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        return subscriptions.check_key(value, subscriptions.AUTH_BYTES, "auth")


class PushSubscriptionCreate(WriteModel):
    """The browser's ``PushSubscription.toJSON()`` (``expirationTime`` is accepted and ignored)."""

    endpoint: str = Field(max_length=1000)
    keys: PushKeys
    expirationTime: int | None = None  # noqa: N815  (the browser's name)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return subscriptions.check_endpoint(value)


class PushSubscriptionRead(BaseModel):
    id: uuid.UUID
    endpoint: str
    created_at: datetime


@router.post("/my/push-subscriptions", response_model=PushSubscriptionRead, status_code=201)
async def add_push_subscription(body: PushSubscriptionCreate, ctx: Auth) -> PushSubscriptionRead:
    p = ctx.principal
    sub = await subscriptions.subscribe(ctx.session, p.tenant_id, p.user_id, body.endpoint, body.keys.p256dh,
                                        body.keys.auth)  # fmt: skip
    return PushSubscriptionRead(id=sub.id, endpoint=sub.endpoint, created_at=sub.created_at)


@router.delete("/my/push-subscriptions/{subscription_id}", status_code=204, response_class=Response)
async def remove_push_subscription(subscription_id: uuid.UUID, ctx: Auth) -> Response:
    await subscriptions.unsubscribe(ctx.session, ctx.principal.user_id, subscription_id)
    return Response(status_code=204)
