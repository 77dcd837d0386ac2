"""The raw pool returns connections without a reset query: nothing of a request's tenant context may
survive on a connection the next request gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.factories import Factory
from tests.scheduling.bookable import make_bookable


async def test_no_tenant_context_survives_on_a_pooled_connection(app, client, factory: Factory, owner_sessionmaker):
    clinic = await make_bookable(factory, owner_sessionmaker)
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    r = await client.get(
        f"/api/v1/practitioners/{clinic.practitioner_id}/availability",
        params={"service_id": str(clinic.service_id), "from": tomorrow, "days": 3}, headers=headers,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    pool = await app.state.db.raw_pool()
    connections = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        for conn in connections:
            assert not await conn.fetchval("SELECT current_setting('app.tenant_id', true)")
            assert not await conn.fetchval("SELECT current_setting('app.user_id', true)")
            assert not conn.is_in_transaction()
            # And so row-level security shows nothing at all.
            assert await conn.fetchval("SELECT count(*) FROM appointments") == 0
    finally:
        for conn in connections:
            await pool.release(conn)
