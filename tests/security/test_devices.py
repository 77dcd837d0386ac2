"""Device approval: with the tenant policy on, a staff sign-in from a new device waits for a
hospital admin's approval; revoking a device ends its sessions."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_problem, audit_actions, bearer
from tests.factories import Factory, TenantInfo, UserInfo

UA = {"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/126.0"}


@pytest.fixture
async def tenant(factory: Factory) -> TenantInfo:
    return await factory.tenant(device_approval=True)


@pytest.fixture
async def admin_headers(factory: Factory, tenant: TenantInfo) -> dict[str, str]:
    return await factory.headers(await factory.user(tenant, "hospital_admin"))


async def doctor_login(client, doctor: UserInfo, device_token: str | None = None):  # type: ignore[no-untyped-def]
    body = {"email": doctor.email, "password": doctor.password}
    if device_token:
        body["device_token"] = device_token
    return await client.post("/api/v1/auth/login", json=body, headers=UA)


async def test_a_new_device_waits_for_approval(client, factory: Factory, tenant, admin_headers, owner_sessionmaker):
    doctor = await factory.user(tenant, "doctor")
    r = await doctor_login(client, doctor)
    assert r.status_code == 202, r.text
    pending = r.json()
    assert pending["status"] == "device_pending" and "access_token" not in pending
    device_token, device_id = pending["device_token"], pending["device_id"]
    # Asking again from the same device: still pending, same device, no new one.
    again = await doctor_login(client, doctor, device_token)
    assert again.status_code == 202 and again.json()["device_id"] == device_id

    listed = (await client.get("/api/v1/devices?status=pending", headers=admin_headers)).json()
    assert [(d["id"], d["user_id"], d["label"]) for d in listed] == [(device_id, str(doctor.id), "Chrome on Android")]

    r = await client.post(f"/api/v1/devices/{device_id}/approve", headers=admin_headers)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert_problem(await client.post(f"/api/v1/devices/{device_id}/approve", headers=admin_headers), 409)

    r = await doctor_login(client, doctor, device_token)
    assert r.status_code == 200, r.text
    assert (await client.get("/api/v1/me", headers=bearer(r.json()))).status_code == 200
    # Without the token the same person is on an unknown device again.
    other = await doctor_login(client, doctor)
    assert other.status_code == 202 and other.json()["device_id"] != device_id
    actions = [e["action"] for e in await audit_actions(owner_sessionmaker, tenant.id)]
    assert "auth.device.approval_requested" in actions and "auth.device.approved" in actions


async def test_revoking_a_device_ends_its_sessions(client, factory: Factory, tenant, admin_headers):
    doctor = await factory.user(tenant, "doctor")
    pending = (await doctor_login(client, doctor)).json()
    await client.post(f"/api/v1/devices/{pending['device_id']}/approve", headers=admin_headers)
    tokens = (await doctor_login(client, doctor, pending["device_token"])).json()
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 200

    r = await client.post(f"/api/v1/devices/{pending['device_id']}/revoke", headers=admin_headers)
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert_problem(await client.get("/api/v1/me", headers=bearer(tokens)), 401)
    assert_problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)
    r = await doctor_login(client, doctor, pending["device_token"])
    assert r.status_code == 202 and r.json()["status"] == "device_pending"


async def test_with_the_policy_off_devices_are_not_checked(client, factory: Factory):
    doctor = await factory.user(await factory.tenant(device_approval=False), "doctor")
    assert (await doctor_login(client, doctor)).status_code == 200


async def test_the_hospital_admin_is_not_locked_out_by_their_own_policy(client, factory: Factory, tenant):
    """Admins pass MFA on every sign-in; if they needed device approval too, the tenant's only
    admin could never sign in from a new browser, and nobody could approve anything."""
    admin = await factory.user(tenant, "hospital_admin")
    tokens = await factory.login(admin)
    assert (await client.get("/api/v1/devices", headers=bearer(tokens))).status_code == 200


async def test_the_policy_is_switched_by_the_admin(client, factory: Factory, admin_headers, tenant):
    r = await client.patch(
        "/api/v1/organization/policy", headers=admin_headers, json={"device_approval_required": False}
    )
    assert r.status_code == 200 and r.json()["device_approval_required"] is False
    doctor = await factory.user(tenant, "doctor")
    assert (await doctor_login(client, doctor)).status_code == 200
