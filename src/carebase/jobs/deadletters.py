"""Dead letters: outbox events the worker gave up on, for admins to retry or discard.

Read and changed through the app role: a hospital admin sees its tenant's (``tenant_isolation``), the
platform admin every tenant's (``platform_read`` / ``platform_update`` policies, ``app.platform_admin``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.db import set_context
from carebase.core.errors import Conflict, NotFound, PermissionDenied
from carebase.core.outbox import OutboxEvent
from carebase.identity.principal import Principal
from carebase.jobs.permissions import JobsPermission as P


async def _scope(session: AsyncSession, principal: Principal) -> None:
    if not principal.can(P.DEAD_LETTERS):
        raise PermissionDenied()
    if principal.is_platform_admin:
        await set_context(session, tenant_id=principal.tenant_id, user_id=principal.user_id, platform_admin=True)


async def list_dead(session: AsyncSession, principal: Principal, *, limit: int = 100) -> list[OutboxEvent]:
    await _scope(session, principal)
    query = (select(OutboxEvent).where(OutboxEvent.status == "dead")
             .order_by(OutboxEvent.created_at.desc(), OutboxEvent.id.desc()).limit(limit))  # fmt: skip
    return list((await session.execute(query)).scalars())


async def _dead(session: AsyncSession, principal: Principal, event_id: uuid.UUID) -> OutboxEvent:
    await _scope(session, principal)
    event = (await session.execute(
        select(OutboxEvent).where(OutboxEvent.id == event_id).with_for_update())).scalar_one_or_none()  # fmt: skip
    if event is None:
        raise NotFound("No such event.")
    if event.status != "dead":
        raise Conflict(f"This event is {event.status}, not dead.")
    return event


async def retry(session: AsyncSession, principal: Principal, event_id: uuid.UUID) -> OutboxEvent:
    """Back to ``pending`` with a fresh attempt budget; handlers that had succeeded are still skipped."""
    event = await _dead(session, principal, event_id)
    event.status, event.attempts, event.leased_until = "pending", 0, None
    event.available_at = (await session.execute(text("SELECT now()"))).scalar_one()
    await session.flush()
    await session.execute(text("SELECT pg_notify('carebase_outbox', :t)"), {"t": event.topic})
    await _audit(session, principal, event, "jobs.dead_letter.retried")
    return event


async def discard(session: AsyncSession, principal: Principal, event_id: uuid.UUID) -> OutboxEvent:
    event = await _dead(session, principal, event_id)
    event.status = "discarded"
    await session.flush()
    await _audit(session, principal, event, "jobs.dead_letter.discarded")
    return event


async def _audit(session: AsyncSession, principal: Principal, event: OutboxEvent, action: str) -> None:
    if event.tenant_id != principal.tenant_id:
        await set_context(session, tenant_id=event.tenant_id, user_id=principal.user_id, platform_admin=True)
    await audit.record(
        session, event.tenant_id, action, actor=audit.Actor(principal.user_id, principal.role),
        target_type="outbox_event", target_id=event.id, details={"topic": event.topic},
    )  # fmt: skip
