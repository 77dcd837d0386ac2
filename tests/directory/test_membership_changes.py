"""A doctor deactivated by the hospital admin leaves the marketplace (event → worker → listing)."""

from __future__ import annotations

import asyncpg

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.worker import run_batch
from carebase.directory import listings  # noqa: F401  (registers the handler)
from tests.scheduling.bookable import make_bookable
from tests.web.booking_helpers import publish


async def test_deactivating_a_doctor_removes_their_listing(client, factory, owner_sessionmaker, database_url):
    clinic = await make_bookable(factory, owner_sessionmaker)
    await publish(owner_sessionmaker, clinic)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        count = "SELECT count(*) FROM directory_listings WHERE practitioner_id = $1"
        assert await conn.fetchval(count, clinic.practitioner_id) == 1
        admin = await factory.user(clinic.tenant, "hospital_admin")
        r = await client.patch(
            f"/api/v1/staff/{clinic.doctor.membership_id}",
            headers=await factory.headers(admin),
            json={"status": "deactivated"},
        )
        assert r.status_code == 200, r.text
        while await run_batch(conn, topics=["membership.updated"]):  # not what earlier tests left
            pass
        assert await conn.fetchval(count, clinic.practitioner_id) == 0
        # Reactivated: listed again.
        await client.patch(
            f"/api/v1/staff/{clinic.doctor.membership_id}",
            headers=await factory.headers(admin),
            json={"status": "active"},
        )
        while await run_batch(conn, topics=["membership.updated"]):  # not what earlier tests left
            pass
        assert await conn.fetchval(count, clinic.practitioner_id) == 1
    finally:
        await conn.close()
