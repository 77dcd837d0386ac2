"""Factory functions: each test builds its own tenants and people (as the database owner), then
acts through the API like a real client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pyotp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.crypto import encrypt
from carebase.core.db import set_context
from carebase.identity.models import Membership, User
from carebase.identity.passwords import hash_password
from carebase.patients.models import Patient
from carebase.tenancy.models import PLATFORM_TENANT_ID, Location, Organization

PASSWORD = "correct-horse-battery"
_HASH: dict[str, str] = {}


def _hash(password: str) -> str:
    if password not in _HASH:
        _HASH[password] = hash_password(password)
    return _HASH[password]


@dataclass
class TenantInfo:
    id: uuid.UUID
    slug: str
    name: str
    location_id: uuid.UUID


@dataclass
class UserInfo:
    id: uuid.UUID
    email: str | None
    phone: str | None
    password: str | None
    role: str
    tenant_id: uuid.UUID
    membership_id: uuid.UUID
    totp_secret: str | None = None
    device_token: str | None = None
    tokens: dict[str, Any] = field(default_factory=dict)

    def totp(self) -> str:
        assert self.totp_secret
        return pyotp.TOTP(self.totp_secret).now()


class Factory:
    def __init__(self, owner: async_sessionmaker[AsyncSession], client: httpx.AsyncClient) -> None:
        self.owner = owner
        self.client = client

    async def tenant(
        self, *, kind: str = "hospital", device_approval: bool = False, tz: str = "Asia/Kolkata"
    ) -> TenantInfo:
        slug = f"t-{uuid.uuid4().hex[:10]}"
        async with self.owner() as s, s.begin():
            org = Organization(
                name=f"Test {kind} {slug}",
                slug=slug,
                kind=kind,
                country="IN",
                currency="INR",
                timezone=tz,
                settings={"device_approval_required": device_approval, "cancellation_cutoff_hours": 2},
            )
            s.add(org)
            await s.flush()
            location = Location(tenant_id=org.id, name="Main", country="IN", timezone=tz, city="Pune")
            s.add(location)
            await s.flush()
            return TenantInfo(org.id, slug, org.name, location.id)

    async def user(
        self,
        tenant: TenantInfo | None,
        role: str = "doctor",
        *,
        password: str | None = PASSWORD,
        mfa: bool | None = None,
        email: str | None = None,
        phone: str | None = None,
        status: str = "active",
    ) -> UserInfo:
        """A user with one membership. Admin roles get MFA enrolled unless ``mfa=False``."""
        tenant_id = tenant.id if tenant else PLATFORM_TENANT_ID
        if mfa is None:
            mfa = role in ("hospital_admin", "platform_admin")
        email = email if email is not None else f"{role}-{uuid.uuid4().hex[:8]}@example.org"
        secret = pyotp.random_base32() if mfa else None
        async with self.owner() as s, s.begin():
            user = User(
                email=email or None,
                phone=phone,
                full_name=f"Test {role.replace('_', ' ').title()}",
                password_hash=_hash(password) if password else None,
                mfa_secret_enc=encrypt("mfa-secret", secret.encode()) if secret else None,
                mfa_enabled_at=utcnow() if secret else None,
            )
            s.add(user)
            await s.flush()
            membership = Membership(tenant_id=tenant_id, user_id=user.id, role=role, status=status)
            s.add(membership)
            await s.flush()
            return UserInfo(user.id, email or None, phone, password, role, tenant_id, membership.id, secret)

    async def add_membership(self, user: UserInfo, tenant: TenantInfo, role: str) -> uuid.UUID:
        async with self.owner() as s, s.begin():
            membership = Membership(tenant_id=tenant.id, user_id=user.id, role=role)
            s.add(membership)
            await s.flush()
            return membership.id

    async def patient(
        self, tenant: TenantInfo, *, user: UserInfo | None = None, given: str = "Asha", family: str = "Kumar"
    ) -> uuid.UUID:
        async with self.owner() as s, s.begin():
            await set_context(s, tenant_id=tenant.id)
            patient = Patient(
                tenant_id=tenant.id,
                user_id=user.id if user else None,
                mrn=f"T{uuid.uuid4().hex[:8].upper()}",
                given_name=given,
                family_name=family,
                birth_date=date(1990, 1, 1),
                sex="female",
            )
            s.add(patient)
            await s.flush()
            await audit.record(s, tenant.id, "test.patient.created", target_type="patient", target_id=patient.id)
            return patient.id

    async def login(self, user: UserInfo, *, tenant_id: uuid.UUID | None = None) -> dict[str, Any]:
        """Sign in through the API (password, then the MFA step if enrolled); return the tokens."""
        body: dict[str, Any] = {"email": user.email, "password": user.password}
        if tenant_id:
            body["tenant_id"] = str(tenant_id)
        if user.device_token:
            body["device_token"] = user.device_token
        r = await self.client.post("/api/v1/auth/login", json=body)
        if r.status_code == 202 and r.json()["status"] == "mfa_required":
            r = await self.client.post(
                "/api/v1/auth/mfa", json={"mfa_token": r.json()["mfa_token"], "code": user.totp()}
            )
        assert r.status_code == 200, r.text
        user.tokens = r.json()
        return user.tokens

    async def headers(self, user: UserInfo) -> dict[str, str]:
        if not user.tokens:
            await self.login(user)
        return {"Authorization": f"Bearer {user.tokens['access_token']}"}
