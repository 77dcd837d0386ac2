"""The raw pool returns connections without a reset query: nothing of a request's tenant context may
survive on a connection the next request gets."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from carebase.core.db import Database, begin_statement
from tests.api.helpers import scalar
from tests.factories import Factory
from tests.scheduling.bookable import make_bookable
from tests.scheduling.test_booking import free_slots, hold


async def _every_pooled_connection_is_clean(app) -> None:  # type: ignore[no-untyped-def]
    """No pooled connection is in a transaction or keeps a tenant or user context, so row-level security
    shows it nothing at all."""
    pool = await app.state.db.raw_pool()
    connections = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        for conn in connections:
            assert not conn.is_in_transaction()
            assert not await conn.fetchval("SELECT current_setting('app.tenant_id', true)")
            assert not await conn.fetchval("SELECT current_setting('app.user_id', true)")
            assert await conn.fetchval("SELECT count(*) FROM appointments") == 0
    finally:
        for conn in connections:
            await pool.release(conn)


async def test_no_tenant_context_survives_on_a_pooled_connection(app, client, factory: Factory, owner_sessionmaker):
    clinic = await make_bookable(factory, owner_sessionmaker)
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    r = await client.get(
        f"/api/v1/practitioners/{clinic.practitioner_id}/availability",
        params={"service_id": str(clinic.service_id), "from": tomorrow, "days": 3}, headers=headers,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    await _every_pooled_connection_is_clean(app)


async def test_a_refused_hold_leaves_no_transaction_or_context_behind(app, client, factory, owner_sessionmaker):
    """A refused hold writes nothing and leaves no transaction or tenant context on its connection."""
    clinic = await make_bookable(factory, owner_sessionmaker)
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body = {"practitioner_id": str(clinic.practitioner_id), "service_id": str(clinic.service_id),
            "patient_id": str(uuid.uuid4()), "starts_at": past, "source": "front_desk"}  # fmt: skip
    for _ in range(3):
        r = await client.post("/api/v1/holds", json=body, headers=headers)
        assert r.status_code in (404, 422), r.text
    await _every_pooled_connection_is_clean(app)


async def test_hold_and_confirm_leave_no_transaction_or_context_behind(app, client, factory, owner_sessionmaker):
    """Their writes are functions that set the context for their own statement (migration 0015); the rare
    steps that need a transaction (a lost race, a lapsed hold at confirm) open and close one."""
    clinic = await make_bookable(factory, owner_sessionmaker)
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    slots = await free_slots(client, headers, clinic)
    first = await hold(client, headers, clinic, patient, slots[0]["starts_at"])
    second = await hold(client, headers, clinic, patient, slots[1]["starts_at"])
    assert (await client.post(f"/api/v1/appointments/{first.json()['id']}/confirm", headers=headers)).status_code == 200
    assert (await hold(client, headers, clinic, patient, slots[0]["starts_at"])).status_code == 409
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(text("UPDATE appointments SET hold_expires_at = now() - interval '1 second' WHERE id = :i"),
                        {"i": second.json()["id"]})  # fmt: skip
    lapsed = await client.post(f"/api/v1/appointments/{second.json()['id']}/confirm", headers=headers)
    assert lapsed.status_code == 410
    status = await scalar(owner_sessionmaker, "SELECT status FROM appointments WHERE id = :i", i=second.json()["id"])
    assert status == "expired"  # kept: the 410 commits the expiry it found
    await _every_pooled_connection_is_clean(app)


def test_a_tenant_context_is_written_into_sql_only_from_uuids():
    tenant = uuid.uuid4()
    assert f"set_config('app.tenant_id', '{tenant}', true)" in begin_statement(tenant_id=tenant)
    assert begin_statement(readonly=True) == "BEGIN READ ONLY"
    with pytest.raises(TypeError):
        begin_statement(tenant_id="x', true); DROP TABLE appointments; --")  # type: ignore[arg-type]


async def test_raw_connections_are_handed_out_in_the_order_asked_for(settings, database_url):
    """asyncpg's pool lets whoever asks while a connection is being released take it ahead of the waiter
    the release wakes; ``raw_connection`` keeps the order, so no request waits behind later ones."""
    db = Database(database_url, settings.database_app_role, settings.database_app_password.get_secret_value(),
                  pool_size=1)  # fmt: skip
    order: list[str] = []
    holding, done_holding = asyncio.Event(), asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def use(name: str) -> None:
        async with db.raw_connection() as conn:
            order.append(name)
            if name == "first":
                holding.set()
                await done_holding.wait()
            await conn.fetchval("SELECT 1")

    pool = await db.raw_pool()
    reset = pool._reset  # asyncpg's hook, run inside the release just before the connection goes back

    async def newcomer_arrives_during_release(conn) -> None:  # type: ignore[no-untyped-def]
        if len(tasks) == 4:
            tasks.append(asyncio.get_running_loop().create_task(use("newcomer")))
        await reset(conn)

    pool._reset = newcomer_arrives_during_release
    try:
        tasks.append(asyncio.create_task(use("first")))
        await holding.wait()
        tasks.extend(asyncio.create_task(use(f"waiter {i}")) for i in range(3))
        await asyncio.sleep(0.05)  # all three are queued now
        done_holding.set()
        await asyncio.gather(*tasks[:4])
        assert len(tasks) == 5, "the newcomer never came"
        await tasks[4]
    finally:
        await db.dispose()
    assert order == ["first", "waiter 0", "waiter 1", "waiter 2", "newcomer"]
