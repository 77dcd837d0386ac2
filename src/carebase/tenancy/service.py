"""Tenancy commands and queries: tenants (platform admin), policies, locations, departments."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.db import set_context
from carebase.core.errors import Conflict, NotFound, ValidationFailed
from carebase.core.outbox import emit
from carebase.directory.listings import rebuild_tenant_listings
from carebase.identity.principal import Principal
from carebase.tenancy import schemas
from carebase.tenancy.models import PLATFORM_TENANT_ID, Department, Location, Organization

DEFAULT_POLICY: dict[str, Any] = {
    "device_approval_required": False,
    "cancellation_cutoff_hours": 2,
    # How far ahead patients and staff may book: holds, reschedules and offered slots end this many days from now.
    "booking_horizon_days": 180,
    # Publish the organisation's practitioners to the public marketplace search.
    "marketplace": False,
    # Appointment reminders, hours before the start (the worker's reminder job; see jobs.scheduled).
    "reminder_offsets_hours": [24, 2],
    "quiet_hours_enabled": False,
    "quiet_hours_start": "21:00",
    "quiet_hours_end": "08:00",
}


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    device_approval_required: bool
    cancellation_cutoff_hours: int
    booking_horizon_days: int = DEFAULT_POLICY["booking_horizon_days"]
    marketplace: bool = False
    quiet_hours_enabled: bool = False
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)


def _actor(principal: Principal) -> audit.Actor:
    return audit.Actor(principal.user_id, principal.role)


async def tenant_policy(session: AsyncSession, tenant_id: uuid.UUID) -> TenantPolicy:
    org = await session.get(Organization, tenant_id)
    values = {**DEFAULT_POLICY, **((org.settings if org else {}) or {})}
    return TenantPolicy(
        device_approval_required=bool(values["device_approval_required"]),
        cancellation_cutoff_hours=int(values["cancellation_cutoff_hours"]),
        booking_horizon_days=int(values["booking_horizon_days"]),
        marketplace=bool(values["marketplace"]),
        quiet_hours_enabled=bool(values["quiet_hours_enabled"]),
        quiet_hours_start=time.fromisoformat(values["quiet_hours_start"]),
        quiet_hours_end=time.fromisoformat(values["quiet_hours_end"]),
    )


async def update_policy(
    session: AsyncSession, principal: Principal, data: schemas.PolicyUpdate
) -> TenantPolicy:
    org = await session.get(Organization, principal.tenant_id)
    assert org is not None
    changes = data.model_dump(exclude_none=True, mode="json")
    org.settings = {**(org.settings or {}), **changes}
    if "marketplace" in changes:
        await rebuild_tenant_listings(session, principal.tenant_id)
    await audit.record(
        session, principal.tenant_id, "tenancy.policy.updated", actor=_actor(principal),
        target_type="organization", target_id=org.id, details={"fields": sorted(changes)},
    )  # fmt: skip
    return await tenant_policy(session, principal.tenant_id)


async def get_organization(session: AsyncSession, tenant_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, tenant_id)
    if org is None:
        raise NotFound("No such organisation.")
    return org


# --- tenants (platform admin) -------------------------------------------------------------------


async def list_tenants(session: AsyncSession, principal: Principal, q: str | None = None) -> list[Organization]:
    query = select(Organization).where(Organization.kind != "platform").order_by(Organization.name)
    if q:
        query = query.where(Organization.name.ilike(f"%{q}%"))
    return list((await session.execute(query.limit(500))).scalars())


async def create_tenant(session: AsyncSession, principal: Principal, data: schemas.TenantCreate) -> Organization:
    """Create a hospital or clinic and invite its first hospital admin."""
    from carebase.identity.staff import invite_member

    org = Organization(
        name=data.name, slug=data.slug, kind=data.kind, country=data.country,
        currency=data.currency, timezone=data.timezone, settings=dict(DEFAULT_POLICY),
    )  # fmt: skip
    session.add(org)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("That slug is taken.", errors=[{"loc": ["slug"], "msg": "Already in use."}]) from exc
    await audit.record(
        session, PLATFORM_TENANT_ID, "tenancy.tenant.created", actor=_actor(principal),
        target_type="organization", target_id=org.id,
    )  # fmt: skip
    # Switch this transaction into the new tenant to write its first rows and audit events.
    await set_context(session, tenant_id=org.id, user_id=principal.user_id, platform_admin=True)
    await audit.record(
        session, org.id, "tenancy.tenant.created", actor=_actor(principal),
        target_type="organization", target_id=org.id,
    )  # fmt: skip
    await invite_member(
        session, principal, org.id, email=str(data.admin_email), full_name=data.admin_name, role="hospital_admin"
    )
    await emit(session, org.id, "tenant.created", {"tenant_id": str(org.id)})
    await set_context(session, tenant_id=principal.tenant_id, user_id=principal.user_id, platform_admin=True)
    return org


async def update_tenant(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, data: schemas.TenantUpdate
) -> Organization:
    org = await session.get(Organization, tenant_id)
    if org is None or org.kind == "platform":
        raise NotFound("No such tenant.")
    changes = data.model_dump(exclude_none=True)
    for key, value in changes.items():
        setattr(org, key, value)
    await audit.record(
        session, PLATFORM_TENANT_ID, "tenancy.tenant.updated", actor=_actor(principal),
        target_type="organization", target_id=org.id, details={"fields": sorted(changes)},
    )  # fmt: skip
    if changes.keys() & {"name", "status"}:
        # The tenant's public listings show its name and vanish while it is suspended.
        await set_context(session, tenant_id=org.id, user_id=principal.user_id, platform_admin=True)
        await rebuild_tenant_listings(session, org.id)
        await set_context(session, tenant_id=principal.tenant_id, user_id=principal.user_id, platform_admin=True)
    return org


# --- locations and departments --------------------------------------------------------------------


async def list_locations(session: AsyncSession, principal: Principal) -> list[Location]:
    rows = await session.execute(select(Location).order_by(Location.name).limit(500))
    return list(rows.scalars())


async def get_location(session: AsyncSession, location_id: uuid.UUID) -> Location:
    location = await session.get(Location, location_id)
    if location is None:
        raise NotFound("No such location.")
    return location


async def create_location(session: AsyncSession, principal: Principal, data: schemas.LocationCreate) -> Location:
    location = Location(tenant_id=principal.tenant_id, **data.model_dump())
    session.add(location)
    await session.flush()
    await audit.record(
        session, principal.tenant_id, "tenancy.location.created", actor=_actor(principal),
        target_type="location", target_id=location.id,
    )  # fmt: skip
    await emit(session, principal.tenant_id, "location.created", {"location_id": str(location.id)})
    await rebuild_tenant_listings(session, principal.tenant_id)
    return location


async def update_location(
    session: AsyncSession, principal: Principal, location_id: uuid.UUID, data: schemas.LocationUpdate
) -> Location:
    location = await get_location(session, location_id)
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key in ("name", "timezone", "is_active"):
            raise ValidationFailed.field(key, "This field cannot be empty.")
        setattr(location, key, value)
    await rebuild_tenant_listings(session, principal.tenant_id)
    await audit.record(
        session, principal.tenant_id, "tenancy.location.updated", actor=_actor(principal),
        target_type="location", target_id=location.id, details={"fields": sorted(changes)},
    )  # fmt: skip
    return location


async def list_departments(session: AsyncSession, principal: Principal) -> list[Department]:
    rows = await session.execute(select(Department).order_by(Department.name).limit(500))
    return list(rows.scalars())


async def _check_location(session: AsyncSession, location_id: uuid.UUID | None) -> None:
    if location_id is not None and await session.get(Location, location_id) is None:
        raise ValidationFailed.field("location_id", "No such location in this organisation.")


async def create_department(
    session: AsyncSession, principal: Principal, data: schemas.DepartmentCreate
) -> Department:
    await _check_location(session, data.location_id)
    department = Department(tenant_id=principal.tenant_id, **data.model_dump())
    session.add(department)
    await session.flush()
    await audit.record(
        session, principal.tenant_id, "tenancy.department.created", actor=_actor(principal),
        target_type="department", target_id=department.id,
    )  # fmt: skip
    return department


async def update_department(
    session: AsyncSession, principal: Principal, department_id: uuid.UUID, data: schemas.DepartmentUpdate
) -> Department:
    department = await session.get(Department, department_id)
    if department is None:
        raise NotFound("No such department.")
    changes = data.model_dump(exclude_unset=True)
    if "location_id" in changes:
        await _check_location(session, changes["location_id"])
    for key, value in changes.items():
        if value is None and key in ("name", "is_active"):
            raise ValidationFailed.field(key, "This field cannot be empty.")
        setattr(department, key, value)
    await audit.record(
        session, principal.tenant_id, "tenancy.department.updated", actor=_actor(principal),
        target_type="department", target_id=department.id, details={"fields": sorted(changes)},
    )  # fmt: skip
    return department
