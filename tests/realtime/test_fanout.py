"""Fan-out across processes: two app instances, a client on each, one publish reaches both, through
PostgreSQL LISTEN/NOTIFY and through Redis pub/sub."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from carebase.core.bootstrap import asyncpg_dsn
from carebase.realtime.publish import record_and_publish
from tests.realtime.conftest import connect, fake_event, recv, servers, subscribe


async def _fan_out(settings, database_url, factory, redis_url: str | None) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    user = await factory.user(tenant, "nurse")
    await factory.login(user)
    token = user.tokens["access_token"]
    topic = f"board:{tenant.location_id}"
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        with servers(settings.model_copy(update={"redis_url": redis_url}), database_url, 2) as (one, two):
            async with connect(one, token) as a, connect(two, token) as b:
                await subscribe(a, topic)
                await subscribe(b, topic)
                payload = {"appointment_id": str(uuid.uuid4()), "location_id": str(tenant.location_id)}
                (message,) = await record_and_publish(
                    conn, fake_event(tenant.id, "appointment.checked_in", payload), redis_url
                )
                for ws in (a, b):
                    got = await recv(ws)
                    assert got["id"] == message["id"] and got["data"]["appointment_id"] == payload["appointment_id"]
    finally:
        await conn.close()


async def test_fan_out_through_postgresql(settings, database_url, factory) -> None:  # type: ignore[no-untyped-def]
    await _fan_out(settings, database_url, factory, None)


@pytest.mark.redis
async def test_fan_out_through_redis(settings, database_url, factory, redis_url) -> None:  # type: ignore[no-untyped-def]
    await _fan_out(settings, database_url, factory, redis_url)
