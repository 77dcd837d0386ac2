"""The in-app inbox: a user's ``notifications`` rows of channel ``in_app`` in the current tenant.

``unread_count(session, user_id)`` is the contract with the live-updates bell (realtime): one indexed count."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.clock import utcnow
from carebase.core.errors import NotFound
from carebase.notifications.models import Notification

MAX_PAGE = 50


def _mine(user_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return (Notification.user_id == user_id, Notification.channel == "in_app")


async def unread_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Unread in-app notifications of ``user_id`` in the session's tenant (RLS scopes the tenant)."""
    return int(await session.scalar(select(func.count()).where(*_mine(user_id), Notification.read_at.is_(None))) or 0)


async def list_for(
    session: AsyncSession, user_id: uuid.UUID, *, before: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 20, unread_only: bool = False,
) -> list[Notification]:  # fmt: skip
    query = select(Notification).where(*_mine(user_id))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before is not None:
        query = query.where((Notification.created_at, Notification.id) < before)
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(min(max(limit, 1), MAX_PAGE))
    return list((await session.execute(query)).scalars())


async def mark_read(session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification:
    n = await session.get(Notification, notification_id)
    if n is None or n.user_id != user_id or n.channel != "in_app":
        raise NotFound("No such notification.")
    if n.read_at is None:
        n.read_at = utcnow()
        await session.flush()
    return n


async def mark_all_read(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(Notification).where(*_mine(user_id), Notification.read_at.is_(None)).values(read_at=utcnow())
    )


def cursor(n: Notification) -> str:
    """The inbox's page cursor after ``n`` (newest first): its time and id."""
    return f"{n.created_at.isoformat()}|{n.id}"


def parse_cursor(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    """A cursor back to (time, id); anything malformed means the first page."""
    if not value:
        return None
    try:
        stamp, _, ident = value.partition("|")
        return datetime.fromisoformat(stamp), uuid.UUID(ident)
    except ValueError:
        return None
