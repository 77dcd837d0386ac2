"""The audit log: what is recorded (sign-ins, denials, mutations, every read of a patient
record), that the app cannot rewrite it, and that tampering is found and located, by
``verify_chain`` and by ``carebase audit verify``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from carebase.audit import service as audit
from carebase.audit.service import verify_chain
from carebase.cli import app as cli
from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.uow import unit_of_work
from tests.api.helpers import audit_actions, bearer
from tests.factories import Factory, TenantInfo


async def test_sign_in_success_and_failure_are_recorded(client, factory: Factory, owner_sessionmaker):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    bad = await client.post("/api/v1/auth/login", json={"email": doctor.email, "password": "wrong password"})
    assert bad.status_code == 401
    await factory.login(doctor)
    events = await audit_actions(owner_sessionmaker, tenant.id, actor_user_id=doctor.id)
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("auth.login.failed", "failure"),
        ("auth.login.succeeded", "success"),
    ]
    assert events[1]["ip"] == "203.0.113.10" and events[1]["target_type"] == "session"
    assert events[0]["details"] == {"reason": "bad_credentials", "via": "password"}  # no secrets


async def test_a_permission_denial_is_recorded(client, factory: Factory, owner_sessionmaker):
    tenant = await factory.tenant()
    nurse = await factory.user(tenant, "nurse")
    r = await client.get("/api/v1/audit-events", headers={**await factory.headers(nurse), "X-Request-ID": "deny-1"})
    assert r.status_code == 403
    [event] = await audit_actions(owner_sessionmaker, tenant.id, action="access.denied")
    assert event["actor_user_id"] == nurse.id and event["actor_role"] == "nurse" and event["outcome"] == "denied"
    assert event["details"] == {"permission": "audit.events.read", "path": "/api/v1/audit-events"}
    assert event["request_id"] == "deny-1"


async def test_a_patient_search_records_which_patients_were_shown(client, factory: Factory, owner_sessionmaker):
    tenant = await factory.tenant()
    receptionist = await factory.user(tenant, "receptionist")
    shown = {await factory.patient(tenant, given="Nila"), await factory.patient(tenant, given="Tara")}
    r = await client.get("/api/v1/patients", headers=await factory.headers(receptionist))
    assert r.status_code == 200
    [event] = await audit_actions(owner_sessionmaker, tenant.id, action="patients.register.searched")
    assert event["actor_user_id"] == receptionist.id
    assert {uuid.UUID(p) for p in event["details"]["patient_ids"]} == shown


async def test_mutations_and_every_patient_record_read_are_recorded(client, factory: Factory, owner_sessionmaker):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    admin = await factory.user(tenant, "hospital_admin")
    headers = await factory.headers(doctor)
    r = await client.post("/api/v1/patients", headers=headers, json={"given_name": "Ravi", "family_name": "Shah"})
    assert r.status_code == 201
    patient_id = r.json()["id"]
    await client.patch(f"/api/v1/patients/{patient_id}", headers=headers, json={"phone": "+919876543210"})
    for _ in range(2):
        assert (await client.get(f"/api/v1/patients/{patient_id}", headers=headers)).status_code == 200
    await client.post("/api/v1/locations", headers=await factory.headers(admin), json={
        "name": "Annex", "country": "IN", "timezone": "Asia/Kolkata"})  # fmt: skip

    events = await audit_actions(owner_sessionmaker, tenant.id, patient_id=uuid.UUID(patient_id))
    assert [e["action"] for e in events] == [
        "patients.record.created", "patients.record.updated", "patients.record.read", "patients.record.read",
    ]  # fmt: skip
    assert events[1]["details"] == {"fields": ["phone"]}  # field names, never the values
    assert all(e["actor_user_id"] == doctor.id for e in events)
    assert await audit_actions(owner_sessionmaker, tenant.id, action="tenancy.location.created")

    # The admin's viewer finds them by patient and by action prefix.
    viewer = await client.get(f"/api/v1/audit-events?patient={patient_id}", headers=await factory.headers(admin))
    assert [e["action"] for e in viewer.json()["items"]][0] == "patients.record.read"
    reads = await client.get("/api/v1/audit-events?action=patients.record", headers=await factory.headers(admin))
    assert len(reads.json()["items"]) == 4


async def test_a_patients_own_read_is_recorded(client, factory: Factory, mailbox, owner_sessionmaker):
    tenant = await factory.tenant()
    user = await factory.user(tenant, "patient", password=None)
    patient_id = await factory.patient(tenant, user=user)
    await client.post("/api/v1/auth/otp/request", json={"destination": user.email})
    code = mailbox.code(await mailbox.wait_for(user.email))
    tokens = (await client.post("/api/v1/auth/otp/verify", json={"destination": user.email, "code": code})).json()
    assert (await client.get("/api/v1/my/patient-records", headers=bearer(tokens))).status_code == 200
    [event] = await audit_actions(owner_sessionmaker, tenant.id, action="patients.record.read")
    assert event["patient_id"] == patient_id and event["actor_user_id"] == user.id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET details = '{}'::jsonb",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
async def test_the_app_role_cannot_rewrite_the_log(db, factory: Factory, statement, owner_sessionmaker):
    tenant = await factory.tenant()
    await factory.patient(tenant)
    with pytest.raises(DBAPIError, match="permission denied"):
        async with unit_of_work(db, tenant_id=tenant.id) as s:
            await s.execute(text(statement))
    assert len(await audit_actions(owner_sessionmaker, tenant.id)) == 1


# --- tamper detection -------------------------------------------------------------------------


@pytest.fixture
async def chain(factory: Factory, owner_sessionmaker) -> TenantInfo:
    """A tenant with five audit events."""
    tenant = await factory.tenant()
    async with owner_sessionmaker() as s, s.begin():
        for i in range(1, 6):
            await audit.record(s, tenant.id, f"test.event.{i}", details={"n": i})
    return tenant


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


async def tamper(owner_sessionmaker, tenant: TenantInfo, *statements: str, **params: object) -> None:  # type: ignore[no-untyped-def]
    async with owner_sessionmaker() as s, s.begin():
        for statement in statements:
            await s.execute(text(statement), {"t": tenant.id, **params})


async def event_id(conn: asyncpg.Connection, tenant: TenantInfo, seq: int) -> uuid.UUID:
    return await conn.fetchval("SELECT id FROM audit_events WHERE tenant_id = $1 AND seq = $2", tenant.id, seq)


async def test_an_intact_chain_passes(conn, chain):
    assert await verify_chain(conn, chain.id) == (5, None)


async def test_an_edited_row_is_found(conn, chain, owner_sessionmaker):
    await tamper(
        owner_sessionmaker, chain, "UPDATE audit_events SET details = '{\"n\": 99}' WHERE tenant_id = :t AND seq = 2"
    )
    checked, broken = await verify_chain(conn, chain.id)
    assert checked == 1 and broken is not None
    assert (broken.seq, broken.event_id, broken.reason) == (2, await event_id(conn, chain, 2), "content was changed")


async def test_an_edited_actor_is_found(conn, chain, owner_sessionmaker):
    await tamper(
        owner_sessionmaker,
        chain,
        "UPDATE audit_events SET actor_user_id = :someone WHERE tenant_id = :t AND seq = 4",
        someone=uuid.uuid4(),
    )
    _, broken = await verify_chain(conn, chain.id)
    assert broken is not None and broken.seq == 4


async def test_a_deleted_middle_row_is_found(conn, chain, owner_sessionmaker):
    fourth = await event_id(conn, chain, 4)
    await tamper(owner_sessionmaker, chain, "DELETE FROM audit_events WHERE tenant_id = :t AND seq = 3")
    checked, broken = await verify_chain(conn, chain.id)
    assert checked == 2 and broken is not None
    assert (broken.seq, broken.event_id) == (3, fourth)
    assert "missing" in broken.reason


async def test_swapped_rows_are_found(conn, chain, owner_sessionmaker):
    await tamper(
        owner_sessionmaker, chain,
        "UPDATE audit_events SET seq = -1 WHERE tenant_id = :t AND seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE tenant_id = :t AND seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE tenant_id = :t AND seq = -1",
    )  # fmt: skip
    checked, broken = await verify_chain(conn, chain.id)
    assert checked == 1 and broken is not None and broken.seq == 2


async def test_a_deleted_last_row_is_found(conn, chain, owner_sessionmaker):
    await tamper(owner_sessionmaker, chain, "DELETE FROM audit_events WHERE tenant_id = :t AND seq = 5")
    checked, broken = await verify_chain(conn, chain.id)
    assert checked == 4 and broken is not None
    assert (broken.seq, broken.event_id) == (5, None) and "removed" in broken.reason


@pytest.fixture
async def broken_chain(chain, owner_sessionmaker) -> TenantInfo:
    await tamper(
        owner_sessionmaker, chain, "UPDATE audit_events SET action = 'test.rewritten' WHERE tenant_id = :t AND seq = 3"
    )
    return chain


def run_cli(database_url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        cli, ["audit", "verify", *args], env={"CAREBASE_DATABASE_URL": database_url, "COLUMNS": "250"}
    )


def test_the_cli_names_the_first_broken_link(database_url, broken_chain):
    result = run_cli(database_url, "--tenant", broken_chain.slug)
    assert result.exit_code == 1, result.output
    assert "BROKEN at event #3" in result.output and "content was changed" in result.output


def test_the_cli_passes_an_intact_chain(database_url, chain):
    result = run_cli(database_url, "--tenant", str(chain.id))
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "5" in result.output


def test_the_cli_refuses_an_unknown_tenant(database_url, settings):
    assert run_cli(database_url, "--tenant", "no-such-tenant").exit_code == 1
