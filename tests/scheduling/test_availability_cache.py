"""The availability cache and the principal cache behind the availability endpoints: answers are
reused, and every change that matters reaches them, whether made through the API in this process
or straight in the database by someone else (announced with NOTIFY on commit)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.metrics import CACHE
from tests.api.helpers import assert_problem
from tests.factories import Factory
from tests.scheduling.bookable import Bookable, make_bookable
from tests.web.booking_helpers import publish


@pytest.fixture
async def clinic(factory: Factory, owner_sessionmaker) -> Bookable:
    return await make_bookable(factory, owner_sessionmaker)


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).date().isoformat()


async def slots(client, headers, b: Bookable, *, public: bool = False) -> list[str]:
    prefix = "/api/v1/directory" if public else "/api/v1"
    r = await client.get(
        f"{prefix}/practitioners/{b.practitioner_id}/availability",
        params={"service_id": str(b.service_id), "from": tomorrow(), "days": 2},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return [s["starts_at"] for s in r.json()["slots"]]


async def hold(client, headers, b: Bookable, patient, starts_at: str):
    body = {"practitioner_id": str(b.practitioner_id), "service_id": str(b.service_id), "patient_id": str(patient),
            "starts_at": starts_at, "source": "front_desk"}  # fmt: skip
    return await client.post("/api/v1/holds", json=body, headers=headers)


def hits() -> float:
    return CACHE.labels("availability", "hit")._value.get()


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 3.0) -> None:
    """Out-of-process changes arrive by NOTIFY: give the listener a moment."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the change never reached the cache"
        await asyncio.sleep(0.02)


async def test_a_repeated_read_is_served_from_the_cache(client, factory, clinic):
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    first = await slots(client, headers, clinic)
    before = hits()
    assert await slots(client, headers, clinic) == first
    assert hits() == before + 1


async def test_a_hold_through_the_api_is_seen_by_the_next_read(client, factory, clinic):
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    free = await slots(client, headers, clinic)
    await slots(client, headers, clinic)  # cached now
    r = await hold(client, headers, clinic, patient, free[0])
    assert r.status_code == 201, r.text
    after = await slots(client, headers, clinic)
    assert free[0] not in after and after == free[1:]
    # Cancelled again: the slot is free on the very next read.
    r = await client.post(f"/api/v1/appointments/{r.json()['id']}/cancel", json={"reason": "mistake"}, headers=headers)
    assert r.status_code == 200, r.text
    assert await slots(client, headers, clinic) == free


async def test_a_change_made_straight_in_the_database_reaches_the_cache(client, factory, clinic, database_url):
    """Another process (the worker, an operator, another serve) changes the schedule: the trigger's
    NOTIFY reaches this process's listener and the cached answer is dropped, for bookers and the public."""
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    free = await slots(client, headers, clinic)
    await slots(client, headers, clinic)
    first = datetime.fromisoformat(free[0])
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "INSERT INTO schedule_exceptions (id, tenant_id, practitioner_id, kind, starts_at, ends_at, reason)"
            " VALUES (gen_random_uuid(), $1, $2, 'time_off', $3, $4, 'out of office')",
            clinic.tenant.id, clinic.practitioner_id, first, first + timedelta(hours=1),
        )  # fmt: skip

        async def gone() -> bool:
            return free[0] not in await slots(client, headers, clinic)

        await eventually(gone)
        # A tenant-wide change (the service's length) reaches every practitioner's answers.
        await conn.execute("UPDATE services SET duration_minutes = 30 WHERE id = $1", clinic.service_id)

        async def longer() -> bool:
            r = await client.get(
                f"/api/v1/practitioners/{clinic.practitioner_id}/availability",
                params={"service_id": str(clinic.service_id), "from": tomorrow(), "days": 2}, headers=headers,
            )  # fmt: skip
            return r.json()["duration_minutes"] == 30

        await eventually(longer)
    finally:
        await conn.close()


async def test_a_lapsing_hold_frees_its_slot_without_any_write(client, factory, clinic, database_url):
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    free = await slots(client, headers, clinic)
    r = await hold(client, headers, clinic, patient, free[0])
    assert r.status_code == 201, r.text
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:  # the hold lapses in a second (as if placed five minutes ago)
        await conn.execute(
            "UPDATE appointments SET hold_expires_at = now() + interval '1 second' WHERE id = $1",
            uuid.UUID(r.json()["id"]),
        )
    finally:
        await conn.close()
    await eventually(lambda: _lacks(client, headers, clinic, free[0]))
    await asyncio.sleep(1.2)
    assert free[0] in await slots(client, headers, clinic)  # no write since: the entry expired with the hold


async def _lacks(client, headers, b: Bookable, slot: str) -> bool:
    return slot not in await slots(client, headers, b)


async def test_a_revoked_session_is_refused_at_once(client, factory, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    await slots(client, headers, clinic)  # the principal is cached now
    r = await client.post("/api/v1/auth/logout", headers=headers)
    assert r.status_code in (200, 204), r.text
    r = await client.get(
        f"/api/v1/practitioners/{clinic.practitioner_id}/availability",
        params={"service_id": str(clinic.service_id), "from": tomorrow()}, headers=headers,
    )  # fmt: skip
    assert_problem(r, 401)


async def test_a_suspended_organisation_is_refused(client, factory, clinic, database_url):
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    await slots(client, headers, clinic)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("UPDATE organizations SET status = 'suspended' WHERE id = $1", clinic.tenant.id)

        async def refused() -> bool:
            r = await client.get(
                f"/api/v1/practitioners/{clinic.practitioner_id}/availability",
                params={"service_id": str(clinic.service_id), "from": tomorrow()}, headers=headers,
            )  # fmt: skip
            return r.status_code == 401

        await eventually(refused)
    finally:
        await conn.execute("UPDATE organizations SET status = 'active' WHERE id = $1", clinic.tenant.id)
        await conn.close()


async def test_without_its_listener_the_cache_is_bypassed(app, client, factory, clinic, database_url):
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    free = await slots(client, headers, clinic)
    listener = app.state.invalidation.listener
    listener.connected = False  # as while it reconnects: nothing would tell this process of changes
    try:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        first = datetime.fromisoformat(free[0])
        try:
            await conn.execute(
                "INSERT INTO schedule_exceptions (id, tenant_id, practitioner_id, kind, starts_at, ends_at)"
                " VALUES (gen_random_uuid(), $1, $2, 'time_off', $3, $4)",
                clinic.tenant.id, clinic.practitioner_id, first, first + timedelta(minutes=15),
            )  # fmt: skip
        finally:
            await conn.close()
        before = hits()
        assert free[0] not in await slots(client, headers, clinic)  # at once, from the database
        assert hits() == before
    finally:
        listener.connected = True


async def test_public_availability_is_cached_until_the_practitioner_leaves_the_directory(
    client, factory, owner_sessionmaker, clinic, database_url
):
    await publish(owner_sessionmaker, clinic)
    free = await slots(client, {}, clinic, public=True)
    before = hits()
    assert await slots(client, {}, clinic, public=True) == free  # the second read is a hit
    assert hits() == before + 1
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("DELETE FROM directory_listings WHERE practitioner_id = $1", clinic.practitioner_id)
    finally:
        await conn.close()

    async def gone() -> bool:
        r = await client.get(
            f"/api/v1/directory/practitioners/{clinic.practitioner_id}/availability",
            params={"service_id": str(clinic.service_id), "from": tomorrow(), "days": 2},
        )
        return r.status_code == 404

    await eventually(gone)


async def active_appointments(database_url: str, tenant_id: uuid.UUID) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE tenant_id = $1 AND status IN ('held', 'confirmed')", tenant_id
        )
    finally:
        await conn.close()


async def test_holds_use_the_cached_principal_and_a_signed_out_session_cannot_hold(
    client, factory, clinic, database_url
):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    free = await slots(client, headers, clinic)  # the principal is cached now
    r = await hold(client, headers, clinic, patient, free[0])
    assert r.status_code == 201, r.text
    held = await active_appointments(database_url, clinic.tenant.id)
    r = await client.post("/api/v1/auth/logout", headers=headers)
    assert r.status_code in (200, 204), r.text
    assert_problem(await hold(client, headers, clinic, patient, free[1]), 401)
    assert await active_appointments(database_url, clinic.tenant.id) == held


async def test_a_role_changed_in_the_database_stops_the_next_hold(client, factory, clinic, database_url):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    free = await slots(client, headers, clinic)
    assert (await hold(client, headers, clinic, patient, free[0])).status_code == 201
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("UPDATE memberships SET role = 'nurse' WHERE user_id = $1", desk.id)

        async def refused() -> bool:
            r = await hold(client, headers, clinic, patient, free[1])
            assert r.status_code in (201, 401), r.text
            return r.status_code == 401

        await eventually(refused)
    finally:
        await conn.close()
    held = await active_appointments(database_url, clinic.tenant.id)
    assert_problem(await hold(client, headers, clinic, patient, free[2]), 401)
    assert await active_appointments(database_url, clinic.tenant.id) == held
