"""Hold and confirm on the raw-connection path (``scheduling.hold_confirm``): the one-slot check, the
exclusion constraint deciding races, who may confirm what, expiry, idempotent replays, the events and
the audit chain (linked at commit) after many concurrent bookings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest
from sqlalchemy import text

from carebase.audit import service as audit
from carebase.audit.service import verify_chain
from carebase.core.bootstrap import asyncpg_dsn
from carebase.scheduling.models import Holiday, ScheduleException
from tests.api.helpers import assert_problem, audit_actions, field_errors, scalar
from tests.factories import Factory
from tests.scheduling.bookable import Bookable, make_bookable
from tests.scheduling.test_booking import free_slots, hold

pytestmark = pytest.mark.usefixtures("client")


@pytest.fixture
async def clinic(factory: Factory, owner_sessionmaker) -> Bookable:
    return await make_bookable(factory, owner_sessionmaker)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


async def _add(owner, *rows) -> None:  # type: ignore[no-untyped-def]
    async with owner() as s, s.begin():
        s.add_all(rows)


async def test_time_off_holidays_and_notice_are_refused_extra_sessions_accepted(
    client, factory, owner_sessionmaker, clinic
):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slots = await free_slots(client, headers, clinic, days=3)
    first_day = datetime.fromisoformat(slots[0]["starts_at"])
    second_day = next(
        datetime.fromisoformat(s["starts_at"]) for s in slots if s["starts_at"][:10] > slots[0]["starts_at"][:10]
    )
    t = clinic.tenant.id
    await _add(
        owner_sessionmaker,
        ScheduleException(tenant_id=t, practitioner_id=clinic.practitioner_id, kind="time_off",
                          starts_at=first_day, ends_at=first_day + timedelta(minutes=30)),
        Holiday(tenant_id=t, day=second_day.astimezone(UTC).date(), name="Closed"),
        # An extra session in the evening (local 19:00-20:00 in Kolkata is 13:30-14:30 UTC).
        ScheduleException(tenant_id=t, practitioner_id=clinic.practitioner_id, kind="extra",
                          location_id=clinic.location_id, starts_at=first_day + timedelta(hours=10),
                          ends_at=first_day + timedelta(hours=11), slot_minutes=15),
    )  # fmt: skip
    for refused in (first_day, first_day + timedelta(minutes=15), second_day):
        body = assert_problem(await hold(client, headers, clinic, patient, refused.isoformat()), 409)
        assert "not free in this practitioner's schedule" in body["detail"]
    # Inside the 5-minute notice: not offered, so not holdable either; in the past: a field error.
    soon = datetime.now(UTC) + timedelta(minutes=2)
    assert_problem(await hold(client, headers, clinic, patient, soon.isoformat()), 409)
    past = await hold(client, headers, clinic, patient, (datetime.now(UTC) - timedelta(minutes=1)).isoformat())
    assert "starts_at" in field_errors(assert_problem(past, 422))
    # A slot of the extra session, outside every template: accepted; another location: refused.
    extra = first_day + timedelta(hours=10, minutes=15)
    assert_problem(await hold(client, headers, clinic, patient, extra.isoformat(), location_id=str(uuid.uuid4())), 409)
    r = await hold(client, headers, clinic, patient, extra.isoformat())
    assert r.status_code == 201, r.text
    assert r.json()["location_id"] == str(clinic.location_id) and r.json()["ends_at"].startswith(
        (extra + timedelta(minutes=15)).astimezone(UTC).isoformat()[:16]
    )


async def test_who_may_confirm(client, factory, clinic):
    desk, other_desk = (
        await factory.user(clinic.tenant, "receptionist"),
        await factory.user(clinic.tenant, "receptionist"),
    )
    patient_user = await factory.user(clinic.tenant, "patient", password="a-patient-password")
    await factory.patient(clinic.tenant, user=patient_user)
    someone = await factory.patient(clinic.tenant)
    headers = await factory.headers(desk)
    slots = await free_slots(client, headers, clinic)
    held = [(await hold(client, headers, clinic, someone, s["starts_at"])).json() for s in slots[:2]]
    url = "/api/v1/appointments/{}/confirm"
    # A patient cannot confirm (or learn of) a hold that is not theirs; unknown ids are 404 for everyone.
    patient_headers = await factory.headers(patient_user)
    assert_problem(await client.post(url.format(held[0]["id"]), headers=patient_headers), 404)
    assert_problem(await client.post(url.format(uuid.uuid4()), headers=headers), 404)
    # A role without the booking permission: 403 (audited); the desk of the same clinic may confirm.
    pharmacist = await factory.user(clinic.tenant, "pharmacist")
    assert_problem(await client.post(url.format(held[0]["id"]), headers=await factory.headers(pharmacist)), 403)
    r = await client.post(url.format(held[0]["id"]), headers=await factory.headers(other_desk))
    assert r.status_code == 200 and r.json()["status"] == "confirmed" and r.json()["version"] == 2
    # Another tenant's desk: 404 (RLS hides the row).
    stranger = await factory.user(await factory.tenant(), "receptionist")
    assert_problem(await client.post(url.format(held[1]["id"]), headers=await factory.headers(stranger)), 404)


async def test_a_lapsed_hold_nobody_marked_does_not_block_the_slot(client, factory, owner_sessionmaker, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    first = (await hold(client, headers, clinic, patient, slot["starts_at"])).json()
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(
            text("UPDATE appointments SET hold_expires_at = now() - interval '1 second' WHERE id = :i"),
            {"i": first["id"]},
        )
    again = await hold(client, headers, clinic, patient, slot["starts_at"])
    assert again.status_code == 201, again.text
    sql = "SELECT string_agg(status, ',' ORDER BY created_at) FROM appointments WHERE practitioner_id = :p"
    statuses = await scalar(owner_sessionmaker, sql, p=clinic.practitioner_id)
    assert statuses == "expired,held"


async def test_the_hold_cap_and_a_lost_race_change_nothing(client, factory, owner_sessionmaker, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slots = await free_slots(client, headers, clinic)
    for s in slots[:3]:
        assert (await hold(client, headers, clinic, patient, s["starts_at"])).status_code == 201
    assert (
        "already hold 3"
        in assert_problem(await hold(client, headers, clinic, patient, slots[3]["starts_at"]), 409)["detail"]
    )
    other = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    taken = assert_problem(await hold(client, other, clinic, patient, slots[0]["starts_at"]), 409)
    assert "just taken" in taken["detail"]
    held_events = await audit_actions(owner_sessionmaker, clinic.tenant.id, action="scheduling.appointment.held")
    assert len(held_events) == 3
    assert await scalar(owner_sessionmaker, "SELECT string_agg(event::text, ' | ') FROM audit_pending") is None


async def test_idempotent_replays_and_a_changed_body(client, factory, owner_sessionmaker, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slots = await free_slots(client, headers, clinic)
    key = {"Idempotency-Key": f"hold-{uuid.uuid4()}", **headers}
    first = await hold(client, key, clinic, patient, slots[0]["starts_at"])
    replay = await hold(client, key, clinic, patient, slots[0]["starts_at"])
    assert first.status_code == replay.status_code == 201 and first.content == replay.content
    changed = await hold(client, key, clinic, patient, slots[1]["starts_at"])
    assert "Idempotency-Key" in field_errors(assert_problem(changed, 422))
    ckey = {"Idempotency-Key": f"confirm-{uuid.uuid4()}", **headers}
    url = f"/api/v1/appointments/{first.json()['id']}/confirm"
    c1, c2 = await client.post(url, headers=ckey), await client.post(url, headers=ckey)
    assert c1.status_code == c2.status_code == 200 and c2.headers["idempotent-replayed"] == "true"
    # One hold, one booking: the replays wrote nothing.
    assert await scalar(
        owner_sessionmaker, "SELECT count(*) FROM appointments WHERE practitioner_id = :p", p=clinic.practitioner_id
    ) == 1  # fmt: skip
    assert len(await audit_actions(owner_sessionmaker, clinic.tenant.id, action="scheduling.appointment.booked")) == 1


async def test_confirm_events_and_audit_details(client, factory, owner_sessionmaker, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    held = (await hold(client, headers, clinic, patient, slot["starts_at"])).json()
    await client.post(f"/api/v1/appointments/{held['id']}/confirm", headers=headers)
    async with owner_sessionmaker() as s:
        rows = (await s.execute(
            text("SELECT topic, payload FROM outbox WHERE tenant_id = :t ORDER BY topic"), {"t": clinic.tenant.id}
        )).all()  # fmt: skip
    starts = datetime.fromisoformat(slot["starts_at"]).astimezone(UTC).isoformat()
    expected = {
        "appointment_id": held["id"], "practitioner_id": str(clinic.practitioner_id), "patient_id": str(patient),
        "location_id": str(clinic.location_id), "starts_at": starts, "status": "confirmed",
    }  # fmt: skip
    assert [(r.topic, r.payload) for r in rows] == [
        ("appointment.booked", expected),
        ("appointment.confirmed", expected),
    ]
    [booked] = await audit_actions(owner_sessionmaker, clinic.tenant.id, action="scheduling.appointment.booked")
    assert booked["details"] == {"status": "confirmed"} and booked["target_id"] == held["id"]
    assert booked["actor_user_id"] == desk.id and booked["patient_id"] == patient


async def test_a_request_to_approve_has_one_event_and_its_audit_says_requested(
    client, factory, owner_sessionmaker, conn
):
    """``app_confirm_hold`` fills the outcome and the patient into the audit event and its hashed bytes."""
    clinic = await make_bookable(factory, owner_sessionmaker, approves_bookings=True)
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    held = (await hold(client, headers, clinic, patient, slot["starts_at"])).json()
    r = await client.post(f"/api/v1/appointments/{held['id']}/confirm", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "requested"
    topics = await scalar(owner_sessionmaker, "SELECT string_agg(topic, ',') FROM outbox WHERE tenant_id = :t",
                          t=clinic.tenant.id)  # fmt: skip
    assert topics == "appointment.booked"
    [booked] = await audit_actions(owner_sessionmaker, clinic.tenant.id, action="scheduling.appointment.booked")
    assert booked["details"] == {"status": "requested"} and booked["patient_id"] == patient
    assert (await verify_chain(conn, clinic.tenant.id))[1] is None


async def test_the_chain_verifies_after_many_concurrent_bookings(client, factory, owner_sessionmaker, clinic, conn):
    desks = [await factory.headers(await factory.user(clinic.tenant, "receptionist")) for _ in range(8)]
    patients = [await factory.patient(clinic.tenant) for _ in range(4)]
    slots = await free_slots(client, desks[0], clinic, days=3)

    async def book(i: int) -> int:
        h = desks[i % len(desks)]
        r = await hold(client, h, clinic, patients[i % 4], slots[i % 12]["starts_at"])  # 36 attempts on 12 slots
        if r.status_code != 201:
            assert_problem(r, 409)
            return 0
        c = await client.post(f"/api/v1/appointments/{r.json()['id']}/confirm", headers=h)
        assert c.status_code == 200, c.text
        return 1

    booked = sum(await asyncio.gather(*[book(i) for i in range(36)]))
    assert booked == 12
    checked, broken = await verify_chain(conn, clinic.tenant.id)
    assert broken is None
    events = await audit_actions(owner_sessionmaker, clinic.tenant.id)
    assert checked == len(events) and [e["seq"] for e in events] == list(range(1, checked + 1))
    assert sum(e["action"] == "scheduling.appointment.booked" for e in events) == 12
    # Linked in groups just after their commits, before the responses: nothing is left waiting.
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM audit_pending") == 0


async def test_other_processes_hear_of_a_hold_and_the_worker_of_a_booking(client, factory, clinic, conn):
    """The booking statements leave their NOTIFYs to the linker's call after the commit (migration 0015):
    they still arrive, once committed, on the channels the caches and the worker listen on."""
    heard: dict[str, list[str]] = {"carebase_invalidate": [], "carebase_outbox": []}
    arrived = asyncio.Event()

    def on_notice(_conn, _pid, channel: str, payload: str) -> None:
        heard[channel].append(payload)
        arrived.set()

    for channel in heard:
        await conn.add_listener(channel, on_notice)
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    changed = f"p:{clinic.tenant.id}:{clinic.practitioner_id}"

    async def hear(channel: str, payload: str) -> None:
        while payload not in heard[channel]:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), timeout=5)

    held = await hold(client, headers, clinic, patient, slot["starts_at"])
    assert held.status_code == 201
    await hear("carebase_invalidate", changed)
    assert heard["carebase_outbox"] == []  # a hold has no events for the worker
    heard["carebase_invalidate"].clear()
    assert (await client.post(f"/api/v1/appointments/{held.json()['id']}/confirm", headers=headers)).status_code == 200
    await hear("carebase_invalidate", changed)
    await hear("carebase_outbox", "appointment.booked")


@pytest.mark.parametrize(
    "details",
    [{}, {"n": 1, "seq": 5, "z": [1, "two"]}, {"nested": {"b": "ü", "a": None}, "reason": 'a "quoted" \\ one'}],
)
def test_the_split_canonical_json_is_the_canonical_json(details):
    args = audit.pending_args(uuid.uuid4(), "test.split", target_id="x", details=details)
    _, tenant_id, event, prefix, suffix = args
    row = orjson.loads(event) | {"seq": 4242}
    assert prefix + b"4242" + suffix == audit._canonical(row)
    assert row["tenant_id"] == str(tenant_id)
