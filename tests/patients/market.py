"""Helpers for the marketplace registration tests: a clinic that publishes a bookable doctor, a patient
registered at another clinic, and counts read as the database owner (who sees every tenant)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carebase.core.db import set_context
from carebase.patients.models import Patient
from tests.factories import Factory, TenantInfo, UserInfo
from tests.scheduling.bookable import Bookable, make_bookable
from tests.web.booking_helpers import publish


async def listed_clinic(factory: Factory, owner: async_sessionmaker[AsyncSession]) -> Bookable:
    """Clinic X: a bookable doctor listed in the public directory."""
    b = await make_bookable(factory, owner)
    await publish(owner, b, f"Dr. Listed {b.tenant.slug[-4:]}")
    return b


async def home_patient(
    factory: Factory, owner: async_sessionmaker[AsyncSession], *, record: bool = True
) -> tuple[TenantInfo, UserInfo, uuid.UUID | None]:
    """Clinic Y and a patient registered there (with a password, to sign in through the API)."""
    tenant = await factory.tenant()
    user = await factory.user(tenant, "patient", email=f"asha-{uuid.uuid4().hex[:8]}@patients.example")
    if not record:
        return tenant, user, None
    async with owner() as s, s.begin():
        await set_context(s, tenant_id=tenant.id)
        patient = Patient(
            tenant_id=tenant.id, user_id=user.id, mrn=f"Y{uuid.uuid4().hex[:8].upper()}", given_name="Asha",
            family_name="Kumar", birth_date=date(1990, 4, 23), sex="female", phone="+919876543210",
            email=user.email,
        )  # fmt: skip
        s.add(patient)
        await s.flush()
        return tenant, user, patient.id


async def rows(owner: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> list[dict[str, Any]]:
    async with owner() as s:
        return [dict(r._mapping) for r in await s.execute(text(sql), params)]


async def memberships_of(owner: async_sessionmaker[AsyncSession], user_id: uuid.UUID) -> list[dict[str, Any]]:
    return await rows(owner, "SELECT tenant_id, role, status FROM memberships WHERE user_id = :u", u=user_id)


async def records_of(owner: async_sessionmaker[AsyncSession], user_id: uuid.UUID) -> list[dict[str, Any]]:
    return await rows(owner, "SELECT * FROM patients WHERE user_id = :u ORDER BY created_at", u=user_id)
