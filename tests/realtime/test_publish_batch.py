"""The live-update consumer takes a claimed batch at once: each event still reaches exactly its own topics."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from carebase.core.bootstrap import asyncpg_dsn
from carebase.realtime.publish import record_and_publish_many
from tests.realtime.conftest import fake_event


@pytest.fixture
async def owner_conn(database_url: str):  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    yield conn
    await conn.close()


async def test_a_batch_reaches_each_patients_own_topic_in_order_and_replays_alike(factory, owner_conn) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    users = [await factory.user(tenant, "patient") for _ in range(2)]
    patients = [await factory.patient(tenant, user=u) for u in users] + [await factory.patient(tenant)]
    practitioner, location = uuid.uuid4(), uuid.uuid4()

    def event(patient_id: uuid.UUID, status: str) -> dict:
        return fake_event(tenant.id, "appointment.confirmed", {
            "appointment_id": str(uuid.uuid4()), "practitioner_id": str(practitioner), "location_id": str(location),
            "patient_id": str(patient_id), "status": status})  # fmt: skip

    events = [event(p, f"s{k}") for k, p in enumerate(patients)]
    messages = await record_and_publish_many(owner_conn, events, None)
    by_topic: dict[str, list[str]] = {}
    for m in messages:
        by_topic.setdefault(m["topic"], []).append(m["data"]["status"])
    assert by_topic == {
        f"board:{location}": ["s0", "s1", "s2"], f"doctor:{practitioner}": ["s0", "s1", "s2"],
        f"user:{users[0].id}": ["s0"], f"user:{users[1].id}": ["s1"],  # the third patient has no portal account
    }  # fmt: skip
    assert [m["seq"] for m in messages] == sorted(m["seq"] for m in messages)
    again = await record_and_publish_many(owner_conn, events, None)  # a retried batch: same rows, same order
    assert [(m["id"], m["seq"]) for m in again] == [(m["id"], m["seq"]) for m in messages]
