"""Read-only figures for dashboards (counts only, no PHI). Queries run in the principal's
unit of work, so row-level security scopes them to the tenant; we also filter by tenant
explicitly where a table is visible across tenants to its own user (memberships)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.clock import utcnow
from carebase.identity.models import Device, Membership
from carebase.identity.principal import Principal
from carebase.patients.models import Patient


@dataclass(frozen=True, slots=True)
class AdminFigures:
    staff_by_role: dict[str, int]
    staff_total: int
    invited: int
    patients: int
    pending_devices: int
    events_by_day: list[tuple[date, int]]


async def admin_figures(session: AsyncSession, principal: Principal, tz: str) -> AdminFigures:
    rows = await session.execute(
        select(Membership.role, Membership.status, func.count())
        .where(Membership.tenant_id == principal.tenant_id, Membership.role != "patient")
        .group_by(Membership.role, Membership.status)
    )
    by_role: dict[str, int] = {}
    invited = 0
    for role, status, count in rows.all():
        if status == "active":
            by_role[role] = by_role.get(role, 0) + count
        elif status == "invited":
            invited += count
    patients = (await session.execute(select(func.count()).select_from(Patient))).scalar_one()
    pending = (
        await session.execute(select(func.count()).select_from(Device).where(Device.status == "pending"))
    ).scalar_one()
    today = utcnow().astimezone(ZoneInfo(tz)).date()
    start = today - timedelta(days=6)
    daily = await session.execute(
        text(
            "SELECT (occurred_at AT TIME ZONE :tz)::date AS day, count(*) FROM audit_events"
            " WHERE tenant_id = :tid AND occurred_at >= :since GROUP BY 1"
        ),
        {"tz": tz, "tid": principal.tenant_id, "since": utcnow() - timedelta(days=8)},
    )
    counts = {day: n for day, n in daily.all()}
    days = [(start + timedelta(days=i), counts.get(start + timedelta(days=i), 0)) for i in range(7)]
    return AdminFigures(by_role, sum(by_role.values()), invited, patients, pending, days)


async def patient_count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Patient))).scalar_one())
