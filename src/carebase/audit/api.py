"""Audit API: the tenant's log, filtered (hospital and platform admins)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel

from carebase.audit.permissions import AuditPermission
from carebase.audit.queries import AuditFilter, list_events
from carebase.core.api import PageParams
from carebase.core.schemas import Page
from carebase.identity.deps import Ctx, require

router = APIRouter(tags=["audit"])

AuditReader = Annotated[Ctx, Depends(require(AuditPermission.READ))]


class AuditEventRead(BaseModel):
    id: uuid.UUID
    seq: int
    occurred_at: datetime
    actor_user_id: uuid.UUID | None
    actor_name: str | None
    actor_role: str | None
    action: str
    outcome: str
    target_type: str | None
    target_id: str | None
    patient_id: uuid.UUID | None
    ip: str | None
    request_id: str | None
    details: dict[str, Any]


@router.get("/audit-events", response_model=Page[AuditEventRead])
async def audit_events(
    ctx: AuditReader,
    page: PageParams,
    actor: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=80, pattern=r"^[a-z_.]+$")] = None,
    outcome: Literal["success", "failure", "denied"] | None = None,
    patient: uuid.UUID | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> Page[AuditEventRead]:
    rows, cursor = await list_events(
        ctx.session, ctx.principal, page,
        AuditFilter(actor_user_id=actor, action=action, outcome=outcome, patient_id=patient, since=since, until=until),
    )  # fmt: skip
    items = [
        AuditEventRead(
            id=e.id, seq=e.seq, occurred_at=e.occurred_at, actor_user_id=e.actor_user_id, actor_name=name,
            actor_role=e.actor_role, action=e.action, outcome=e.outcome, target_type=e.target_type,
            target_id=e.target_id, patient_id=e.patient_id, ip=e.ip, request_id=e.request_id, details=e.details,
        )  # fmt: skip
        for e, name in rows
    ]
    return Page(items=items, next_cursor=cursor)
