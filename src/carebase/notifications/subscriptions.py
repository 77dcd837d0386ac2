"""Web push subscriptions of the signed-in user (what the browser's ``PushSubscription.toJSON()`` gives).

The endpoint is where the server will POST, so only ``https`` URLs on a named host are taken (no IP literals,
no ``localhost``, no credentials): a subscription cannot point the server at the internal network. The keys
are checked for what RFC 8291 needs: ``p256dh`` an uncompressed P-256 point (65 bytes), ``auth`` 16 bytes, both
base64url. One endpoint belongs to one user of a tenant: subscribing it again (another user on a shared
browser) moves it."""

from __future__ import annotations

import ipaddress
import re
import uuid
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.errors import NotFound
from carebase.notifications.models import PushSubscription
from carebase.notifications.webpush import unb64u

_B64U = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
P256DH_BYTES, AUTH_BYTES = 65, 16


def check_endpoint(value: str) -> str:
    parts = urlsplit(value)
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme != "https" or not host or parts.username or parts.password:
        raise ValueError("The push endpoint must be an https URL.")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ValueError("The push endpoint must name a host, not an IP address.")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")) or "." not in host:
        raise ValueError("The push endpoint must be a public push service.")
    return value


def check_key(value: str, length: int, name: str) -> str:
    try:
        if not _B64U.match(value) or len(unb64u(value.rstrip("="))) != length:
            raise ValueError
    except (ValueError, TypeError):
        raise ValueError(f"{name} must be {length} bytes in base64url.") from None
    if name == "p256dh" and unb64u(value.rstrip("="))[0] != 0x04:
        raise ValueError("p256dh must be an uncompressed P-256 public key.")
    return value.rstrip("=")


async def subscribe(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, endpoint: str, p256dh: str, auth: str
) -> PushSubscription:
    stmt = insert(PushSubscription).values(
        id=uuid.uuid4(), tenant_id=tenant_id, user_id=user_id, endpoint=endpoint, p256dh=p256dh, auth=auth
    )
    stmt = stmt.on_conflict_do_update(
        constraint="uq_push_endpoint",
        set_={"user_id": stmt.excluded.user_id, "p256dh": stmt.excluded.p256dh, "auth": stmt.excluded.auth},
    )
    sub_id = (await session.execute(stmt.returning(PushSubscription.id))).scalar_one()
    sub = await session.get_one(PushSubscription, sub_id, populate_existing=True)
    return sub


async def unsubscribe(session: AsyncSession, user_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
    sub = (
        await session.execute(
            select(PushSubscription).where(PushSubscription.id == subscription_id, PushSubscription.user_id == user_id)
        )
    ).scalar_one_or_none()
    if sub is None:
        raise NotFound("No such push subscription.")
    await session.delete(sub)
    await session.flush()
