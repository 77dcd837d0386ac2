"""Devices staff sign in from. With the tenant policy on, a new device stays pending until a
hospital admin approves it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.context import client_ip_var
from carebase.core.crypto import keyed_hash, random_token
from carebase.core.errors import Conflict, NotFound
from carebase.core.outbox import emit
from carebase.identity.models import Device, Membership, User
from carebase.identity.principal import Principal
from carebase.identity.roles import Role
from carebase.identity.sessions import revoke_device_sessions
from carebase.tenancy.service import tenant_policy


@dataclass(frozen=True, slots=True)
class DeviceCheck:
    device_id: uuid.UUID | None
    status: str  # approved | pending | revoked | not_required
    device_token: str | None = None  # a new token for the client to keep, when one was made


def device_label(user_agent: str | None) -> str:
    """A short human label for a user agent: "Chrome on Windows"."""
    ua = user_agent or "Unknown device"
    for name in ("Edg", "Firefox", "Chrome", "Safari"):
        if name in ua:
            browser = "Edge" if name == "Edg" else name
            break
    else:
        browser = "App or script"
    for os_name in ("Android", "iPhone", "iPad", "Windows", "Mac OS", "Linux"):
        if os_name in ua:
            return f"{browser} on {os_name.replace('Mac OS', 'macOS')}"
    return browser if browser != "App or script" else ua[:60]


async def check_device(
    session: AsyncSession, membership: Membership, device_token: str | None, user_agent: str | None
) -> DeviceCheck:
    """Find or register the device for this staff login. Patients are exempt, and so are admins:
    they pass MFA on every sign-in, and a hospital admin who needed approval could lock the tenant
    out of approving anything. Every tenant whose policy is off is exempt too."""
    role = Role(membership.role)
    if role is Role.PATIENT or role.requires_mfa:
        return DeviceCheck(None, "not_required")
    policy = await tenant_policy(session, membership.tenant_id)
    new_token = None
    if not device_token:
        if not policy.device_approval_required:
            return DeviceCheck(None, "not_required")
        device_token = new_token = random_token(32)
    fingerprint = keyed_hash("device", device_token)
    device = (
        await session.execute(
            select(Device).where(
                Device.tenant_id == membership.tenant_id,
                Device.user_id == membership.user_id,
                Device.fingerprint_hash == fingerprint,
            )
        )
    ).scalar_one_or_none()
    now = utcnow()
    if device is None:
        approved = not policy.device_approval_required
        device = Device(
            tenant_id=membership.tenant_id,
            user_id=membership.user_id,
            fingerprint_hash=fingerprint,
            label=device_label(user_agent),
            status="approved" if approved else "pending",
            ip=client_ip_var.get(),
            last_seen_at=now,
        )
        session.add(device)
        await session.flush()
        if not approved:
            await audit.record(
                session, membership.tenant_id, "auth.device.approval_requested",
                actor=audit.Actor(membership.user_id, membership.role), target_type="device", target_id=device.id,
            )  # fmt: skip
            await emit(
                session, membership.tenant_id, "device.approval_requested",
                {"device_id": str(device.id), "user_id": str(membership.user_id)},
            )  # fmt: skip
    device.last_seen_at = now
    if device.status == "approved" or not policy.device_approval_required and device.status != "revoked":
        return DeviceCheck(device.id, "approved", new_token)
    return DeviceCheck(device.id, device.status, new_token)


async def list_devices(
    session: AsyncSession, principal: Principal, *, status: str | None = None, mine: bool = False
) -> list[tuple[Device, User]]:
    # Explicit tenant filter: RLS also shows users their own devices in other tenants.
    query = (
        select(Device, User)
        .join(User, User.id == Device.user_id)
        .where(Device.tenant_id == principal.tenant_id)
        .order_by(Device.created_at.desc())
    )
    if mine:
        query = query.where(Device.user_id == principal.user_id)
    if status:
        query = query.where(Device.status == status)
    return [(d, u) for d, u in (await session.execute(query.limit(200))).all()]


async def get_device(session: AsyncSession, principal: Principal, device_id: uuid.UUID) -> tuple[Device, User]:
    row = (
        await session.execute(
            select(Device, User)
            .join(User, User.id == Device.user_id)
            .where(Device.id == device_id, Device.tenant_id == principal.tenant_id)
        )
    ).first()
    if row is None:
        raise NotFound("No such device.")
    return row[0], row[1]


async def decide(session: AsyncSession, principal: Principal, device_id: uuid.UUID, decision: str) -> Device:
    """Approve or revoke a device of this tenant (hospital admin)."""
    device = await session.get(Device, device_id)
    if device is None or device.tenant_id != principal.tenant_id:
        raise NotFound("No such device.")
    target = {"approve": "approved", "revoke": "revoked"}[decision]
    if device.status == target:
        raise Conflict(f"The device is already {target}.")
    device.status = target
    device.decided_by = principal.user_id
    device.decided_at = utcnow()
    if target == "revoked":
        await revoke_device_sessions(session, device.id)
    await audit.record(
        session, principal.tenant_id, f"auth.device.{target}",
        actor=audit.Actor(principal.user_id, principal.role), target_type="device", target_id=device.id,
        details={"user_id": str(device.user_id)},
    )  # fmt: skip
    await emit(session, principal.tenant_id, f"device.{target}", {"device_id": str(device.id)})
    return device
