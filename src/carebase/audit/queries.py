"""Audit log queries for the admin viewer: filter by who, what and when; newest first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit.models import AuditEvent
from carebase.core.pagination import PageRequest, finish, paginate
from carebase.identity.models import User
from carebase.identity.principal import Principal


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_user_id: uuid.UUID | None = None
    action: str | None = None  # a prefix: "auth." matches every sign-in event
    outcome: str | None = None
    patient_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_events(
    session: AsyncSession, principal: Principal, page: PageRequest, f: AuditFilter
) -> tuple[list[tuple[AuditEvent, str | None]], str | None]:
    query = select(AuditEvent, User.full_name).outerjoin(User, User.id == AuditEvent.actor_user_id)
    if f.actor_user_id:
        query = query.where(AuditEvent.actor_user_id == f.actor_user_id)
    if f.action:
        query = query.where(AuditEvent.action.startswith(f.action, autoescape=True))
    if f.outcome:
        query = query.where(AuditEvent.outcome == f.outcome)
    if f.patient_id:
        query = query.where(AuditEvent.patient_id == f.patient_id)
    if f.since:
        query = query.where(AuditEvent.occurred_at >= f.since)
    if f.until:
        query = query.where(AuditEvent.occurred_at < f.until)
    query = paginate(query, page, sorts={"seq": AuditEvent.seq}, default_sort="-seq", id_column=AuditEvent.id)
    rows = (await session.execute(query)).all()
    events, cursor = finish([r[0] for r in rows], page, "-seq")
    names = {r[0].id: r[1] for r in rows}
    return [(e, names[e.id]) for e in events], cursor
