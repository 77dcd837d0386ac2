"""The worker keeps a listing's next free slot current after bookings (outbox → handler)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.worker import run_batch
from carebase.scheduling import listing_refresh  # noqa: F401  (registers the handlers)
from tests.scheduling.bookable import make_bookable

KOLKATA = ZoneInfo("Asia/Kolkata")  # the bookable clinic's zone


async def test_booking_the_first_free_slots_moves_next_free_at_with_one_refresh(
    client, factory, owner_sessionmaker, database_url, monkeypatch
):
    clinic = await make_bookable(factory, owner_sessionmaker)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "INSERT INTO directory_listings (practitioner_id, location_id, tenant_id, tenant_name, practitioner_name,"
            " specialty_codes, specialty_names, languages, modes, currency, location_name, city, timezone, search)"
            " VALUES ($1, $2, $3, 'T', 'Dr. Test', '{}', '{}', '{en}', '{in_person}', 'INR', 'Main', 'Pune',"
            " 'Asia/Kolkata', to_tsvector('simple', 'Dr Test'))",
            clinic.practitioner_id,
            clinic.location_id,
            clinic.tenant.id,
        )
        await listing_refresh.refresh_next_free(conn, clinic.practitioner_id)
        first = await conn.fetchval(
            "SELECT next_free_at FROM directory_listings WHERE practitioner_id = $1", clinic.practitioner_id
        )
        assert first is not None and first > datetime.now(UTC)

        desk = await factory.user(clinic.tenant, "receptionist")
        headers = await factory.headers(desk)
        patient = await factory.patient(clinic.tenant)
        # The free slots after the first: 15 minutes apart, or the next session's first near a session's end.
        r = await client.get(
            f"/api/v1/practitioners/{clinic.practitioner_id}/availability", headers=headers,
            params={"service_id": str(clinic.service_id), "from": first.astimezone(KOLKATA).date().isoformat(),
                    "days": 3},
        )  # fmt: skip
        later = sorted(t for s in r.json()["slots"] if (t := datetime.fromisoformat(s["starts_at"])) > first)
        second, third = later[:2]

        async def book(starts: datetime) -> None:
            r = await client.post(
                "/api/v1/holds",
                headers=headers,
                json={
                    "practitioner_id": str(clinic.practitioner_id),
                    "service_id": str(clinic.service_id),
                    "patient_id": str(patient),
                    "starts_at": starts.isoformat(),
                    "source": "front_desk",
                },
            )
            assert r.status_code == 201, r.text
            r = await client.post(f"/api/v1/appointments/{r.json()['id']}/confirm", headers=headers)
            assert r.status_code == 200, r.text

        for starts in (first, second):
            await book(starts)
        refreshed = []
        real_refresh = listing_refresh.refresh_next_free

        async def counting(c, practitioner_id):
            refreshed.append(practitioner_id)
            await real_refresh(c, practitioner_id)

        monkeypatch.setattr(listing_refresh, "refresh_next_free", counting)
        while await run_batch(conn):
            pass
        # Both bookings' events came in one batch: one refresh saw them both.
        assert refreshed.count(clinic.practitioner_id) == 1
        after = await conn.fetchval(
            "SELECT next_free_at FROM directory_listings WHERE practitioner_id = $1", clinic.practitioner_id
        )
        assert after == third
        # A booking after the first free slot cannot move it: nothing to recompute.
        await book(later[-1])
        while await run_batch(conn):
            pass
        assert refreshed.count(clinic.practitioner_id) == 1
        assert await conn.fetchval(
            "SELECT next_free_at FROM directory_listings WHERE practitioner_id = $1", clinic.practitioner_id
        ) == third
        status = await conn.fetch(
            "SELECT status FROM outbox WHERE tenant_id = $1 AND topic = ANY($2::text[])",
            clinic.tenant.id, list(listing_refresh.TOPICS),
        )  # fmt: skip
        assert {r["status"] for r in status} == {"done"}
    finally:
        await conn.close()
