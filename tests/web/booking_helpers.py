"""Helpers for the booking screens' tests: publish a bookable practitioner to the marketplace, and
sign a patient in through the code forms (web) with the code read from the test mailbox."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carebase.core.db import set_context
from carebase.directory.listings import rebuild_listings
from carebase.tenancy.models import Organization
from tests.factories import Factory, TenantInfo, UserInfo
from tests.scheduling.bookable import Bookable
from tests.smtp import Mailbox


async def publish(owner: async_sessionmaker[AsyncSession], b: Bookable, name: str = "Dr. Test") -> None:
    """List the practitioner in the public directory (its tenant publishes to the marketplace)."""
    from carebase.directory.models import Practitioner

    async with owner() as s, s.begin():
        org = (await s.execute(select(Organization).where(Organization.id == b.tenant.id))).scalar_one()
        org.settings = dict(org.settings or {}) | {"marketplace": True}
        await s.execute(update(Practitioner).where(Practitioner.id == b.practitioner_id).values(display_name=name))
    async with owner() as s, s.begin():
        await set_context(s, tenant_id=b.tenant.id)
        await rebuild_listings(s, b.practitioner_id, b.tenant.id)


async def patient_user(factory: Factory, tenant: TenantInfo, given: str = "Asha",
                       family: str = "Kumar") -> tuple[UserInfo, uuid.UUID]:  # fmt: skip
    email = f"{given.lower()}-{uuid.uuid4().hex[:8]}@patients.example"
    user = await factory.user(tenant, "patient", password=None, email=email)
    patient_id = await factory.patient(tenant, user=user, given=given, family=family)
    return user, patient_id


async def web_patient_login(client: httpx.AsyncClient, mailbox: Mailbox, user: UserInfo, next_url: str = "") -> str:
    """Sign in with a code by email; returns where the browser is sent afterwards."""
    await client.get("/patient-login")
    token = client.cookies["cb_csrf"]
    before = len(mailbox.to(user.email))
    r = await client.post("/patient-login", data={"destination": user.email, "next": next_url, "csrf_token": token})
    assert r.status_code == 200, r.text
    code = mailbox.code(await mailbox.wait_for(user.email, after=before))
    r = await client.post("/patient-login/code", data={"destination": user.email, "code": code, "next": next_url,
                                                       "csrf_token": token})  # fmt: skip
    assert r.status_code == 303, r.text
    return r.headers["location"]
