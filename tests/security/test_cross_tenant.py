"""Cross-tenant access: a user of tenant A using tenant B's ids gets 404 (never B's data), lists
never show B's rows, and attempted updates change nothing in B (checked as the database owner)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from carebase.identity.models import Device
from carebase.tenancy.models import Department
from tests.api.helpers import assert_problem, bearer, scalar
from tests.factories import Factory, TenantInfo, UserInfo

SECRET_NAME = "Zebediah"  # appears only in tenant B's rows


@dataclass
class World:
    a: TenantInfo
    b: TenantInfo
    a_admin: UserInfo
    a_doctor: UserInfo
    b_admin: UserInfo
    b_doctor: UserInfo
    b_patient: uuid.UUID
    b_department: uuid.UUID
    b_device: uuid.UUID
    a_department: uuid.UUID


async def _department(factory: Factory, tenant: TenantInfo, name: str) -> uuid.UUID:
    async with factory.owner() as s, s.begin():
        dept = Department(tenant_id=tenant.id, name=name, location_id=tenant.location_id)
        s.add(dept)
        await s.flush()
        return dept.id


async def _device(factory: Factory, tenant: TenantInfo, user: UserInfo, label: str) -> uuid.UUID:
    async with factory.owner() as s, s.begin():
        device = Device(
            tenant_id=tenant.id, user_id=user.id, fingerprint_hash=uuid.uuid4().hex, label=label, status="pending"
        )
        s.add(device)
        await s.flush()
        return device.id


@pytest.fixture
async def world(factory: Factory) -> World:
    a, b = await factory.tenant(), await factory.tenant()
    b_doctor = await factory.user(b, "doctor")
    w = World(
        a=a, b=b,
        a_admin=await factory.user(a, "hospital_admin"), a_doctor=await factory.user(a, "doctor"),
        b_admin=await factory.user(b, "hospital_admin"), b_doctor=b_doctor,
        b_patient=await factory.patient(b, given=SECRET_NAME, family="Quixote"),
        b_department=await _department(factory, b, f"{SECRET_NAME} Ward"),
        b_device=await _device(factory, b, b_doctor, f"{SECRET_NAME}'s phone"),
        a_department=await _department(factory, a, "Cardiology"),
    )  # fmt: skip
    for user in (w.a_admin, w.a_doctor):
        await factory.login(user)
    return w


def assert_hidden(response, status: int = 404) -> None:  # type: ignore[no-untyped-def]
    assert_problem(response, status)
    assert SECRET_NAME not in response.text and "Quixote" not in response.text


async def test_reading_another_tenants_records_by_id_is_404(client, world: World):
    doctor = bearer(world.a_doctor.tokens)
    assert_hidden(await client.get(f"/api/v1/patients/{world.b_patient}", headers=doctor))
    assert_hidden(await client.get(f"/api/v1/locations/{world.b.location_id}", headers=doctor))
    # A's own record of the same kind is reachable: the 404 is about the tenant, not the route.
    own = await client.get(f"/api/v1/locations/{world.a.location_id}", headers=doctor)
    assert own.status_code == 200


async def test_updating_another_tenants_records_is_404_and_changes_nothing(client, world: World, owner_sessionmaker):
    admin, doctor = bearer(world.a_admin.tokens), bearer(world.a_doctor.tokens)
    b_membership = world.b_doctor.membership_id
    attempts = [
        ("PATCH", f"/api/v1/patients/{world.b_patient}", doctor, {"given_name": "Hacked"}),
        ("PATCH", f"/api/v1/locations/{world.b.location_id}", admin, {"name": "Hacked"}),
        ("PATCH", f"/api/v1/departments/{world.b_department}", admin, {"name": "Hacked"}),
        ("PATCH", f"/api/v1/staff/{b_membership}", admin, {"role": "nurse", "status": "deactivated"}),
        ("POST", f"/api/v1/devices/{world.b_device}/approve", admin, None),
        ("POST", f"/api/v1/devices/{world.b_device}/revoke", admin, None),
    ]
    for method, url, headers, body in attempts:
        assert_hidden(await client.request(method, url, headers=headers, json=body))

    o = owner_sessionmaker
    assert await scalar(o, "SELECT given_name FROM patients WHERE id = :i", i=world.b_patient) == SECRET_NAME
    assert await scalar(o, "SELECT name FROM locations WHERE id = :i", i=world.b.location_id) == "Main"
    assert await scalar(o, "SELECT name FROM departments WHERE id = :i", i=world.b_department) == f"{SECRET_NAME} Ward"
    assert (
        await scalar(o, "SELECT role || '/' || status FROM memberships WHERE id = :i", i=b_membership)
        == "doctor/active"
    )
    assert await scalar(o, "SELECT status FROM devices WHERE id = :i", i=world.b_device) == "pending"
    # B's doctor can still work: nothing was revoked in B.
    assert (await client.get("/api/v1/me", headers=await _headers(client, world.b_doctor))).status_code == 200


async def _headers(client, user: UserInfo) -> dict[str, str]:  # type: ignore[no-untyped-def]
    r = await client.post("/api/v1/auth/login", json={"email": user.email, "password": user.password})
    assert r.status_code == 200, r.text
    return bearer(r.json())


async def test_lists_never_include_another_tenants_rows(client, world: World, factory: Factory):
    # B has activity of its own in every list (audit events, staff, devices, patients).
    await factory.login(world.b_doctor)
    admin, doctor = bearer(world.a_admin.tokens), bearer(world.a_doctor.tokens)
    for url, headers in [
        ("/api/v1/patients", doctor), (f"/api/v1/patients?q={SECRET_NAME}", doctor), ("/api/v1/locations", doctor),
        ("/api/v1/departments", doctor), ("/api/v1/staff", admin), ("/api/v1/staff?limit=100", admin),
        ("/api/v1/devices", admin), ("/api/v1/audit-events?limit=100", admin), ("/api/v1/me/devices", doctor),
    ]:  # fmt: skip
        r = await client.get(url, headers=headers)
        assert r.status_code == 200, (url, r.text)
        for value in (SECRET_NAME, str(world.b.id), str(world.b_doctor.id), str(world.b_patient),
                      str(world.b.location_id), str(world.b_department), str(world.b_device)):  # fmt: skip
            assert value not in r.text, (url, value)
    staff = (await client.get("/api/v1/staff", headers=admin)).json()["items"]
    assert {s["user_id"] for s in staff} == {str(world.a_admin.id), str(world.a_doctor.id)}


async def test_references_to_another_tenants_rows_in_a_body_are_refused(client, world: World, owner_sessionmaker):
    admin = bearer(world.a_admin.tokens)
    r = await client.post(
        "/api/v1/departments", headers=admin, json={"name": "Sneaky", "location_id": str(world.b.location_id)}
    )
    assert "location_id" in str(assert_problem(r, 422)["errors"])
    r = await client.patch(
        f"/api/v1/departments/{world.a_department}", headers=admin, json={"location_id": str(world.b.location_id)}
    )
    assert_problem(r, 422)
    invite = {"email": "x@example.org", "full_name": "Sneaky", "role": "doctor"}
    invite["department_id"] = str(world.b_department)
    r = await client.post("/api/v1/staff", headers=admin, json=invite)
    assert_problem(r, 422)
    r = await client.patch(
        f"/api/v1/staff/{world.a_doctor.membership_id}", headers=admin, json={"department_id": str(world.b_department)}
    )
    assert_problem(r, 422)
    count = "SELECT count(*) FROM departments WHERE name = 'Sneaky'"
    assert await scalar(owner_sessionmaker, count) == 0
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM users WHERE email = 'x@example.org'") == 0


async def test_hospital_admin_cannot_touch_tenants(client, world: World, owner_sessionmaker):
    admin = bearer(world.a_admin.tokens)
    assert_problem(
        await client.patch(f"/api/v1/tenants/{world.b.id}", headers=admin, json={"status": "suspended"}), 403
    )
    assert_problem(await client.patch(f"/api/v1/tenants/{world.a.id}", headers=admin, json={"name": "Renamed"}), 403)
    r = await client.get("/api/v1/tenants", headers=admin)
    assert_problem(r, 403)
    assert world.b.name not in r.text
    assert await scalar(owner_sessionmaker, "SELECT status FROM organizations WHERE id = :i", i=world.b.id) == "active"


async def test_sessions_and_memberships_of_others_are_404(client, world: World, factory: Factory, owner_sessionmaker):
    b_tokens = await factory.login(world.b_doctor)
    b_session = await scalar(
        owner_sessionmaker,
        "SELECT id FROM auth_sessions WHERE user_id = :u ORDER BY created_at DESC",
        u=world.b_doctor.id,
    )
    doctor = bearer(world.a_doctor.tokens)
    assert_hidden(await client.delete(f"/api/v1/me/sessions/{b_session}", headers=doctor))
    assert_hidden(
        await client.post(
            "/api/v1/auth/switch", headers=doctor, json={"membership_id": str(world.b_doctor.membership_id)}
        )
    )
    assert (await client.get("/api/v1/me", headers=bearer(b_tokens))).status_code == 200


async def test_a_member_of_two_tenants_sees_each_only_from_inside_it(
    client, world: World, factory: Factory, owner_sessionmaker
):
    """An admin of A who is also a doctor in B: with A's token, B's rows (even their own
    membership and device there) are neither listed nor changeable."""
    b_membership = await factory.add_membership(world.a_admin, world.b, "doctor")
    b_device = await _device(factory, world.b, world.a_admin, f"{SECRET_NAME} tablet")
    admin = bearer(world.a_admin.tokens)

    staff = (await client.get("/api/v1/staff", headers=admin)).json()["items"]
    assert str(b_membership) not in {s["membership_id"] for s in staff}
    assert [s["role"] for s in staff if s["user_id"] == str(world.a_admin.id)] == ["hospital_admin"]
    devices = await client.get("/api/v1/devices", headers=admin)
    assert str(b_device) not in devices.text and SECRET_NAME not in devices.text

    assert_hidden(await client.patch(f"/api/v1/staff/{b_membership}", headers=admin, json={"title": "Chief"}))
    assert_hidden(await client.post(f"/api/v1/devices/{b_device}/approve", headers=admin))
    assert_hidden(await client.post(f"/api/v1/devices/{b_device}/revoke", headers=admin))
    o = owner_sessionmaker
    assert await scalar(o, "SELECT title FROM memberships WHERE id = :i", i=b_membership) is None
    assert await scalar(o, "SELECT status FROM devices WHERE id = :i", i=b_device) == "pending"


async def test_patients_see_only_their_own_record(client, factory: Factory):
    a = await factory.tenant()
    me = await factory.user(a, "patient", password=None)
    other = await factory.user(a, "patient", password=None)
    mine = await factory.patient(a, user=me, given="Mine")
    theirs = await factory.patient(a, user=other, given=SECRET_NAME)
    token = await _otp_login(client, me)
    r = await client.get("/api/v1/my/patient-records", headers=bearer(token))
    assert [p["id"] for p in r.json()] == [str(mine)]
    assert_problem(await client.get(f"/api/v1/patients/{theirs}", headers=bearer(token)), 403)


async def _otp_login(client, user: UserInfo) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from tests.smtp import Mailbox

    box: Mailbox = client._mailbox  # set by the fixture below
    before = len(box.to(user.email or ""))
    assert (await client.post("/api/v1/auth/otp/request", json={"destination": user.email})).status_code == 202
    code = Mailbox.code(await box.wait_for(user.email or "", after=before))
    r = await client.post("/api/v1/auth/otp/verify", json={"destination": user.email, "code": code})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(autouse=True)
def _attach_mailbox(client, mailbox):  # type: ignore[no-untyped-def]
    client._mailbox = mailbox
