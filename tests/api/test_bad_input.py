"""Bad input gets a 4xx problem document with field-level details, and leaves nothing half-written."""

from __future__ import annotations

import uuid

import pytest

from tests.api.helpers import assert_problem, field_errors, scalar
from tests.factories import Factory, TenantInfo, UserInfo

ONE_MB = 1_048_576


@pytest.fixture
async def tenant(factory: Factory) -> TenantInfo:
    return await factory.tenant()


@pytest.fixture
async def receptionist(factory: Factory, tenant: TenantInfo) -> UserInfo:
    user = await factory.user(tenant, "receptionist")
    await factory.login(user)
    return user


def auth(user: UserInfo, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.tokens['access_token']}", **extra}


async def patient_count(owner_sessionmaker, tenant: TenantInfo) -> int:  # type: ignore[no-untyped-def]
    return await scalar(owner_sessionmaker, "SELECT count(*) FROM patients WHERE tenant_id = :t", t=tenant.id)


@pytest.mark.parametrize("body", [b'{"email": ', b"not json", b'{"email": "a@b.co",}', b"\xff\xfe"])
async def test_malformed_json_is_400(client, body):
    r = await client.post("/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"})
    problem = assert_problem(r, 400)
    assert problem["type"].endswith("malformed-body")


async def test_malformed_json_on_a_write_writes_nothing(client, receptionist, tenant, owner_sessionmaker):
    r = await client.post(
        "/api/v1/patients",
        content=b'{"given_name": "A"',
        headers=auth(receptionist, **{"Content-Type": "application/json"}),
    )
    assert_problem(r, 400)
    assert await patient_count(owner_sessionmaker, tenant) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"given_name": 5, "family_name": "Shah"}, "given_name"),
        ({"given_name": "Ravi"}, "family_name"),
        ({"given_name": "Ravi", "family_name": "Shah", "sex": "robot"}, "sex"),
        ({"given_name": "Ravi", "family_name": "Shah", "birth_date": "yesterday"}, "birth_date"),
        ({"given_name": "Ravi", "family_name": "Shah", "birth_date": "2999-01-01"}, "birth_date"),
        ({"given_name": "Ravi", "family_name": "Shah", "phone": "12"}, "phone"),
        ({"given_name": "Ravi", "family_name": "Shah", "email": "not-an-email"}, "email"),
        ({"given_name": "Ravi", "family_name": "Shah", "tenant_id": str(uuid.uuid4())}, "tenant_id"),
        ({"given_name": "Ravi", "family_name": "Shah", "mrn": "P000001"}, "mrn"),
        ({"given_name": "x" * 101, "family_name": "Shah"}, "given_name"),
    ],
)
async def test_invalid_fields_on_a_write_are_422_and_write_nothing(
    client, receptionist, tenant, owner_sessionmaker, body, field
):
    r = await client.post("/api/v1/patients", json=body, headers=auth(receptionist))
    errors = field_errors(assert_problem(r, 422))
    assert field in errors, errors
    assert await patient_count(owner_sessionmaker, tenant) == 0


async def test_unknown_fields_and_wrong_types_elsewhere(client, factory: Factory, tenant):
    admin = await factory.user(tenant, "hospital_admin")
    headers = await factory.headers(admin)
    cases = [
        ("POST", "/api/v1/auth/login", {"email": "a@example.org", "password": "x", "role": "admin"}, "role"),
        ("PATCH", f"/api/v1/locations/{tenant.location_id}", {"latitude": "north"}, "latitude"),
        ("PATCH", f"/api/v1/locations/{tenant.location_id}", {"timezone": "Mars/Olympus"}, "timezone"),
        ("PATCH", f"/api/v1/locations/{tenant.location_id}", {"name": None}, "name"),
        ("PATCH", "/api/v1/organization/policy", {"cancellation_cutoff_hours": 1000}, "cancellation_cutoff_hours"),
        ("PATCH", "/api/v1/organization/policy", {"device_approval_required": "maybe"}, "device_approval_required"),
        ("POST", "/api/v1/staff", {"email": "n@example.org", "full_name": "N", "role": "platform_admin"}, "role"),
        ("POST", "/api/v1/departments", {"name": "Cardiology", "floor": 3}, "floor"),
    ]
    for method, url, body, field in cases:
        r = await client.request(method, url, json=body, headers=headers)
        assert field in field_errors(assert_problem(r, 422)), (url, body, r.text)
    r = await client.get(f"/api/v1/locations/{tenant.location_id}", headers=headers)
    assert r.json()["name"] == "Main" and r.json()["latitude"] is None


async def test_a_body_over_one_megabyte_is_413(client, receptionist, tenant, owner_sessionmaker):
    big = b'{"given_name": "' + b"a" * (ONE_MB + 10) + b'", "family_name": "Shah"}'
    r = await client.post(
        "/api/v1/patients", content=big, headers=auth(receptionist, **{"Content-Type": "application/json"})
    )
    assert_problem(r, 413)

    async def chunks():  # no Content-Length: the cap counts what arrives
        yield b'{"given_name": "'
        for _ in range(17):
            yield b"a" * 65536
        yield b'", "family_name": "Shah"}'

    r = await client.post(
        "/api/v1/patients", content=chunks(), headers=auth(receptionist, **{"Content-Type": "application/json"})
    )
    assert_problem(r, 413)
    assert await patient_count(owner_sessionmaker, tenant) == 0
    # Just under the cap is an ordinary validation problem, not a size one.
    r = await client.post(
        "/api/v1/patients", json={"given_name": "a" * 1000, "family_name": "S"}, headers=auth(receptionist)
    )
    assert_problem(r, 422)


@pytest.mark.parametrize(
    "query",
    ["limit=1000", "limit=0", "limit=-1", "limit=ten", "cursor=not-a-cursor", "cursor=W10", "sort=password_hash"],
)
async def test_bad_page_parameters_are_422(client, receptionist, query):
    r = await client.get(f"/api/v1/patients?{query}", headers=auth(receptionist))
    field = query.split("=")[0]
    assert field in field_errors(assert_problem(r, 422))


async def test_bad_page_parameters_on_staff_and_audit(client, factory: Factory, tenant):
    headers = await factory.headers(await factory.user(tenant, "hospital_admin"))
    for url in [
        "/api/v1/staff?limit=1000", "/api/v1/staff?cursor=%%%", "/api/v1/audit-events?limit=101",
        "/api/v1/audit-events?cursor=eyJhIjoxfQ", "/api/v1/audit-events?since=2025-01-01T00:00:00",
        "/api/v1/audit-events?actor=me", "/api/v1/audit-events?outcome=maybe",
    ]:  # fmt: skip
        assert_problem(await client.get(url, headers=headers), 422)


async def test_a_malformed_id_in_the_path_is_422(client, receptionist):
    r = await client.get("/api/v1/patients/123", headers=auth(receptionist))
    assert "patient_id" in field_errors(assert_problem(r, 422))


async def walk(client, url: str, headers: dict[str, str]) -> list[str]:  # type: ignore[no-untyped-def]
    """Every item id over all pages of a list, following next_cursor."""
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        r = await client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [item.get("id") or item.get("membership_id") for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return seen
    raise AssertionError("pagination did not end")


async def test_cursor_pagination_walks_every_row_once(client, factory: Factory, tenant, receptionist):
    for i in range(7):
        await factory.patient(tenant, given=f"P{i}", family=f"F{i % 3}")
    for sort in ("", "&sort=family_name", "&sort=-family_name", "&sort=created_at"):
        seen = await walk(client, f"/api/v1/patients?limit=3{sort}", auth(receptionist))
        assert len(seen) == len(set(seen)) == 7, sort
    admin = await factory.user(tenant, "hospital_admin")
    for role in ("doctor", "nurse", "doctor", "lab_staff"):
        await factory.user(tenant, role)
    admin_headers = await factory.headers(admin)
    for sort in ("", "&sort=role", "&sort=-created_at"):
        seen = await walk(client, f"/api/v1/staff?limit=2{sort}", admin_headers)
        assert len(seen) == len(set(seen)) == 6, sort
    events = await walk(client, "/api/v1/audit-events?limit=4", admin_headers)
    assert len(events) == len(set(events)) >= 9


async def test_a_failed_command_leaves_nothing_behind(client, factory: Factory, owner_sessionmaker):
    platform = await factory.user(None, "platform_admin")
    headers = await factory.headers(platform)
    slug = f"t-{uuid.uuid4().hex[:10]}"
    body = {"name": "New Clinic", "slug": slug, "kind": "clinic", "admin_email": f"first-{slug}@example.org",
            "admin_name": "First Admin"}  # fmt: skip
    assert (await client.post("/api/v1/tenants", json=body, headers=headers)).status_code == 201
    events_before = await scalar(owner_sessionmaker, "SELECT count(*) FROM audit_events")
    again = {**body, "admin_email": f"second-{slug}@example.org", "name": "Copy"}
    r = await client.post("/api/v1/tenants", json=again, headers=headers)
    assert "slug" in field_errors(assert_problem(r, 409))
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM users WHERE email = :e", e=again["admin_email"]) == 0
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM organizations WHERE name = 'Copy'") == 0
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM audit_events") == events_before


async def test_idempotency_key_replays_the_first_response(client, receptionist, tenant, owner_sessionmaker):
    key = f"register-{uuid.uuid4().hex}"
    body = {"given_name": "Ravi", "family_name": "Shah"}
    first = await client.post("/api/v1/patients", json=body, headers=auth(receptionist, **{"Idempotency-Key": key}))
    second = await client.post("/api/v1/patients", json=body, headers=auth(receptionist, **{"Idempotency-Key": key}))
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert await patient_count(owner_sessionmaker, tenant) == 1

    changed = {"given_name": "Ravi", "family_name": "Sharma"}
    r = await client.post("/api/v1/patients", json=changed, headers=auth(receptionist, **{"Idempotency-Key": key}))
    assert "Idempotency-Key" in field_errors(assert_problem(r, 422))
    r = await client.post("/api/v1/patients", json=body, headers=auth(receptionist, **{"Idempotency-Key": "bad key!"}))
    assert_problem(r, 422)
    assert await patient_count(owner_sessionmaker, tenant) == 1
    # Without a key, a repeat is a new registration.
    for _ in range(2):
        assert (await client.post("/api/v1/patients", json=body, headers=auth(receptionist))).status_code == 201
    assert await patient_count(owner_sessionmaker, tenant) == 3


async def test_idempotency_keys_are_per_user(client, factory: Factory, receptionist, tenant, owner_sessionmaker):
    nurse = await factory.user(tenant, "nurse")
    key = f"shared-{uuid.uuid4().hex}"
    body = {"given_name": "Ravi", "family_name": "Shah"}
    a = await client.post("/api/v1/patients", json=body, headers=auth(receptionist, **{"Idempotency-Key": key}))
    b = await client.post(
        "/api/v1/patients", json=body, headers={**await factory.headers(nurse), "Idempotency-Key": key}
    )
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]
