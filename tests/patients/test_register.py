"""The patient register hands out medical record numbers in sequence, per tenant, whatever other
record numbers (imported ones) the tenant already holds, and never twice under concurrency."""

import asyncio

from tests.factories import Factory


async def test_mrns_follow_our_sequence_despite_imported_numbers(client, factory: Factory):
    tenant = await factory.tenant()
    await factory.patient(tenant)  # an imported record with a "T…" number
    desk = await factory.user(tenant, "receptionist")
    headers = await factory.headers(desk)
    made = [
        await client.post("/api/v1/patients", headers=headers, json={"given_name": f"P{i}", "family_name": "Rao"})
        for i in range(2)
    ]
    assert [r.status_code for r in made] == [201, 201]
    assert [r.json()["mrn"] for r in made] == ["P000001", "P000002"]


async def test_concurrent_registrations_get_distinct_numbers(client, factory: Factory):
    tenant = await factory.tenant()
    desk = await factory.user(tenant, "receptionist")
    headers = await factory.headers(desk)
    results = await asyncio.gather(
        *[
            client.post("/api/v1/patients", headers=headers, json={"given_name": f"N{i}", "family_name": "Iyer"})
            for i in range(10)
        ]
    )
    assert all(r.status_code == 201 for r in results)
    assert sorted(r.json()["mrn"] for r in results) == [f"P{i:06d}" for i in range(1, 11)]
