"""Helpers for the schedules, dependents and calendar tests: practitioners, locations, services
and appointments written as the database owner."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carebase.directory.models import Practitioner, Service
from carebase.scheduling.models import Appointment
from carebase.tenancy.models import Location
from tests.factories import Factory, TenantInfo, UserInfo


async def practitioner(
    factory: Factory, tenant: TenantInfo, *, name: str = "Dr. Test", doctor: UserInfo | None = None
) -> tuple[UserInfo, uuid.UUID]:
    """A doctor user with a practitioner profile; returns (doctor, practitioner id)."""
    doctor = doctor or await factory.user(tenant, "doctor")
    async with factory.owner() as s, s.begin():
        profile = Practitioner(tenant_id=tenant.id, membership_id=doctor.membership_id, display_name=name)
        s.add(profile)
        await s.flush()
        return doctor, profile.id


async def location(
    owner: async_sessionmaker[AsyncSession], tenant: TenantInfo, tz: str, *, name: str = "Branch", active: bool = True
) -> uuid.UUID:
    async with owner() as s, s.begin():
        row = Location(tenant_id=tenant.id, name=name, country="GB", timezone=tz, city="London", is_active=active)
        s.add(row)
        await s.flush()
        return row.id


async def service(owner: async_sessionmaker[AsyncSession], tenant: TenantInfo, name: str = "Consultation") -> uuid.UUID:
    async with owner() as s, s.begin():
        row = Service(
            tenant_id=tenant.id, name=name, duration_minutes=30, price_minor=50000, currency="INR", mode="in_person"
        )
        s.add(row)
        await s.flush()
        return row.id


async def appointment(
    owner: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    *,
    practitioner_id: uuid.UUID,
    patient_id: uuid.UUID,
    service_id: uuid.UUID,
    location_id: uuid.UUID,
    booked_by: uuid.UUID,
    starts_at: datetime,
    minutes: int = 30,
    status: str = "confirmed",
    version: int = 1,
    **fields: Any,
) -> uuid.UUID:
    """An appointment written straight into the database as the owner; ``fields`` set or override any column
    (``source``, ``hold_expires_at``, ``reason``, ``price_minor``, ...)."""
    async with owner() as s, s.begin():
        row = Appointment(**{
            "tenant_id": tenant.id, "practitioner_id": practitioner_id, "patient_id": patient_id,
            "service_id": service_id, "location_id": location_id, "starts_at": starts_at,
            "ends_at": starts_at + timedelta(minutes=minutes), "status": status, "source": "front_desk",
            "booked_by_user_id": booked_by, "mode": "in_person", "price_minor": 50000, "currency": "INR",
            "payment_status": "at_desk", "version": version, **fields,
        })  # fmt: skip
        s.add(row)
        await s.flush()
        return row.id
