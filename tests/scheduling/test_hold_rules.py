"""A hold reads the practitioner's schedule from the process's hold-rules cache: one statement per hold once
the day is known, and every schedule change, made here or straight in the database, applies to the next hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.metrics import CACHE
from tests.api.helpers import assert_problem
from tests.scheduling.test_availability_cache import clinic, eventually, hold, slots  # noqa: F401  (fixture)


def hits() -> float:
    return CACHE.labels("hold_rules", "hit")._value.get()


def key(b, starts_at: str):  # type: ignore[no-untyped-def]
    return (b.tenant.id, b.practitioner_id, b.service_id, datetime.fromisoformat(starts_at).astimezone(UTC).date())


async def test_the_second_hold_of_a_day_needs_no_schedule_read(client, factory, clinic):  # noqa: F811
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    free = await slots(client, headers, clinic)
    same_day = [s for s in free if key(clinic, s) == key(clinic, free[0])]
    before = hits()
    for starts_at in same_day[:2]:
        r = await hold(client, headers, clinic, patient, starts_at)
        assert r.status_code == 201, r.text
    assert hits() == before + 1
    # Bad input is still refused, from the cached rules: a time off the grid, one the booker may not book for.
    off_grid = (datetime.fromisoformat(same_day[2]) + timedelta(minutes=1)).isoformat()
    assert_problem(await hold(client, headers, clinic, patient, off_grid), 409)
    stranger = await factory.patient(await factory.tenant())
    assert_problem(await hold(client, headers, clinic, stranger, same_day[2]), 422)
    assert hits() == before + 3


async def test_time_off_entered_here_refuses_the_next_hold_at_once(client, factory, clinic):  # noqa: F811
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    admin = await factory.headers(await factory.user(clinic.tenant, "hospital_admin"))
    patient = await factory.patient(clinic.tenant)
    free = await slots(client, headers, clinic)
    assert (await hold(client, headers, clinic, patient, free[0])).status_code == 201  # the day's rules cached
    starts = datetime.fromisoformat(free[1])
    r = await client.post(f"/api/v1/practitioners/{clinic.practitioner_id}/exceptions", headers=admin, json={
        "kind": "time_off", "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "reason": "training"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert_problem(await hold(client, headers, clinic, patient, free[1]), 409)


async def test_a_schedule_change_made_straight_in_the_database_reaches_the_next_hold(
    app, client, factory, clinic, database_url  # noqa: F811
):
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    free = await slots(client, headers, clinic)
    assert (await hold(client, headers, clinic, patient, free[0])).status_code == 201
    cache = app.state.hold_rules
    assert cache.get(key(clinic, free[0])) is not None
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        # Another process deactivates the templates: the announcement drops the cached rules.
        await conn.execute("UPDATE schedule_templates SET is_active = false WHERE practitioner_id = $1",
                           clinic.practitioner_id)  # fmt: skip

        async def dropped() -> bool:
            return cache.get(key(clinic, free[0])) is None

        await eventually(dropped)
        assert_problem(await hold(client, headers, clinic, patient, free[1]), 409)
        # A tenant-wide change (the practitioner leaves) reaches it too.
        await conn.execute("UPDATE schedule_templates SET is_active = true WHERE practitioner_id = $1",
                           clinic.practitioner_id)  # fmt: skip
        await eventually(dropped)
        assert (await hold(client, headers, clinic, patient, free[1])).status_code == 201
        await conn.execute("UPDATE practitioners SET is_active = false WHERE id = $1", clinic.practitioner_id)
        await eventually(dropped)
        assert_problem(await hold(client, headers, clinic, patient, free[2]), 404)
    finally:
        await conn.close()


async def test_without_the_invalidation_listener_nothing_is_served(app, client, factory, clinic):  # noqa: F811
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    free = await slots(client, headers, clinic)
    assert (await hold(client, headers, clinic, patient, free[0])).status_code == 201
    await app.state.invalidation.listener.close()  # as when its connection drops
    assert app.state.hold_rules.get(key(clinic, free[0])) is None
    before = hits()
    assert (await hold(client, headers, clinic, patient, free[1])).status_code == 201  # read from the database
    assert hits() == before
