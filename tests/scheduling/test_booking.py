"""Booking through the API on real PostgreSQL: hold then confirm, no double booking under
concurrency, the status machine, cancellation cutoff, atomic reschedule, idempotency, bad input."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import text

from tests.api.helpers import assert_problem, field_errors
from tests.factories import Factory
from tests.scheduling.bookable import Bookable, make_bookable


@pytest.fixture
async def clinic(factory: Factory, owner_sessionmaker) -> Bookable:
    return await make_bookable(factory, owner_sessionmaker)


async def free_slots(client, headers, b: Bookable, days: int = 3) -> list[dict]:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    r = await client.get(
        f"/api/v1/practitioners/{b.practitioner_id}/availability",
        params={"service_id": str(b.service_id), "from": tomorrow.isoformat(), "days": days},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return r.json()["slots"]


async def hold(client, headers, b: Bookable, patient_id, starts_at: str, **extra):
    body = {
        "practitioner_id": str(b.practitioner_id),
        "service_id": str(b.service_id),
        "patient_id": str(patient_id),
        "starts_at": starts_at,
        "source": "front_desk",
        **extra,
    }
    return await client.post("/api/v1/holds", json=body, headers=headers)


async def outbox_topics(owner, tenant_id) -> list[str]:
    async with owner() as s:
        rows = await s.execute(
            text("SELECT topic FROM outbox WHERE tenant_id = :t ORDER BY created_at"), {"t": tenant_id}
        )
        return [r[0] for r in rows]


async def test_hold_then_confirm_books_and_emits_events(client, factory, owner_sessionmaker, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    assert slot["local_start"].endswith("+05:30") and "T09:00:00" in slot["local_start"]
    r = await hold(client, headers, clinic, patient, slot["starts_at"])
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["status"] == "held" and held["hold_expires_at"] and held["price_minor"] == 60000
    # The held slot is no longer offered to anyone else.
    assert slot["starts_at"] not in [s["starts_at"] for s in await free_slots(client, headers, clinic)]
    r = await client.post(f"/api/v1/appointments/{held['id']}/confirm", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed" and r.json()["hold_expires_at"] is None
    assert await outbox_topics(owner_sessionmaker, clinic.tenant.id) == ["appointment.booked", "appointment.confirmed"]
    again = await client.post(f"/api/v1/appointments/{held['id']}/confirm", headers=headers)
    assert_problem(again, 409)


async def test_fifty_concurrent_attempts_on_one_slot_exactly_one_wins(client, factory, owner_sessionmaker, clinic):
    desks = [await factory.user(clinic.tenant, "receptionist") for _ in range(5)]
    headers = [await factory.headers(d) for d in desks]
    patients = [await factory.patient(clinic.tenant) for _ in range(10)]
    slot = (await free_slots(client, headers[0], clinic))[3]
    results = await asyncio.gather(
        *[hold(client, headers[i % 5], clinic, patients[i % 10], slot["starts_at"]) for i in range(50)]
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1 and codes.count(409) == 49, codes
    for r in results:
        if r.status_code == 409:
            assert r.headers["content-type"].startswith("application/problem+json")
    async with owner_sessionmaker() as s:
        count = (
            await s.execute(
                text("SELECT count(*) FROM appointments WHERE practitioner_id = :p AND starts_at = :t"),
                {"p": clinic.practitioner_id, "t": datetime.fromisoformat(slot["starts_at"])},
            )
        ).scalar_one()
    assert count == 1


async def test_bad_holds_are_refused_and_change_nothing(client, factory, owner_sessionmaker, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    start = datetime.fromisoformat(slot["starts_at"])
    # Outside the template (14:00 local; sessions end at 13:00) and off the grid (09:07 local).
    outside = (start + timedelta(hours=5)).isoformat()
    assert_problem(await hold(client, headers, clinic, patient, outside), 409)
    assert_problem(await hold(client, headers, clinic, patient, (start + timedelta(minutes=7)).isoformat()), 409)
    # In the past.
    past = await hold(client, headers, clinic, patient, (datetime.now(UTC) - timedelta(days=1)).isoformat())
    assert "starts_at" in field_errors(assert_problem(past, 422))
    # A naive time.
    naive = await hold(client, headers, clinic, patient, start.replace(tzinfo=None).isoformat())
    assert_problem(naive, 422)
    # A service the practitioner does not offer.
    r = await client.post(
        "/api/v1/holds",
        headers=headers,
        json={
            "practitioner_id": str(clinic.practitioner_id),
            "service_id": str(uuid.uuid4()),
            "patient_id": str(patient),
            "starts_at": slot["starts_at"],
        },
    )
    assert "service_id" in field_errors(assert_problem(r, 422))
    # A patient of another tenant.
    other = await factory.tenant()
    stranger = await factory.patient(other)
    assert "patient_id" in field_errors(
        assert_problem(await hold(client, headers, clinic, stranger, slot["starts_at"]), 422)
    )
    # Unknown fields.
    assert_problem(await hold(client, headers, clinic, patient, slot["starts_at"], colour="red"), 422)
    async with owner_sessionmaker() as s:
        n = (
            await s.execute(
                text("SELECT count(*) FROM appointments WHERE practitioner_id = :p"), {"p": clinic.practitioner_id}
            )
        ).scalar_one()
    assert n == 0


async def test_expired_hold_cannot_be_confirmed_and_frees_the_slot(client, factory, owner_sessionmaker, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    held = (await hold(client, headers, clinic, patient, slot["starts_at"])).json()
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(
            text("UPDATE appointments SET hold_expires_at = now() - interval '1 minute' WHERE id = :i"),
            {"i": held["id"]},
        )
    assert slot["starts_at"] in [x["starts_at"] for x in await free_slots(client, headers, clinic)]
    assert_problem(await client.post(f"/api/v1/appointments/{held['id']}/confirm", headers=headers), 410)
    assert (await client.get(f"/api/v1/appointments/{held['id']}", headers=headers)).json()["status"] == "expired"
    # Someone else can take it now.
    assert (await hold(client, headers, clinic, patient, slot["starts_at"])).status_code == 201


async def test_patients_book_for_themselves_and_dependents_only(client, factory, owner_sessionmaker, clinic):
    user = await factory.user(clinic.tenant, "patient", password="a-patient-password")
    mine = await factory.patient(clinic.tenant, user=user)
    someone = await factory.patient(clinic.tenant, given="Other")
    headers = await factory.headers(user)
    slot = (await free_slots(client, headers, clinic))[0]
    body = {
        "practitioner_id": str(clinic.practitioner_id),
        "service_id": str(clinic.service_id),
        "starts_at": slot["starts_at"],
    }
    denied = await client.post("/api/v1/holds", headers=headers, json={**body, "patient_id": str(someone)})
    assert_problem(denied, 403)
    ok = await client.post("/api/v1/holds", headers=headers, json={**body, "patient_id": str(mine)})
    assert ok.status_code == 201
    # Another user's hold cannot be confirmed by this patient, nor seen.
    desk = await factory.user(clinic.tenant, "receptionist")
    desk_headers = await factory.headers(desk)
    other_slot = (await free_slots(client, desk_headers, clinic))[0]
    other_hold = (await hold(client, desk_headers, clinic, someone, other_slot["starts_at"])).json()
    assert_problem(await client.post(f"/api/v1/appointments/{other_hold['id']}/confirm", headers=headers), 404)
    assert_problem(await client.get(f"/api/v1/appointments/{other_hold['id']}", headers=headers), 404)
    mine_list = await client.get("/api/v1/my/appointments", headers=headers)
    assert [a["id"] for a in mine_list.json()] == [ok.json()["id"]]


async def test_cancellation_cutoff_applies_to_patients_not_the_desk(client, factory, owner_sessionmaker, clinic):
    user = await factory.user(clinic.tenant, "patient", password="a-patient-password")
    mine = await factory.patient(clinic.tenant, user=user)
    headers = await factory.headers(user)
    slot = (await free_slots(client, headers, clinic))[0]
    body = {
        "practitioner_id": str(clinic.practitioner_id),
        "service_id": str(clinic.service_id),
        "patient_id": str(mine),
        "starts_at": slot["starts_at"],
    }
    appt = (await client.post("/api/v1/holds", headers=headers, json=body)).json()
    await client.post(f"/api/v1/appointments/{appt['id']}/confirm", headers=headers)
    # Move the visit to within the 2-hour cutoff.
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(
            text(
                "UPDATE appointments SET starts_at = now() + interval '1 hour', "
                "ends_at = now() + interval '75 minutes' WHERE id = :i"
            ),
            {"i": appt["id"]},
        )
    late = await client.post(f"/api/v1/appointments/{appt['id']}/cancel", headers=headers, json={"reason": "busy"})
    assert "2 hours" in assert_problem(late, 409)["detail"]
    desk = await factory.user(clinic.tenant, "receptionist")
    r = await client.post(
        f"/api/v1/appointments/{appt['id']}/cancel",
        headers=await factory.headers(desk),
        json={"reason": "patient phoned"},
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["cancel_reason"] == "patient phoned"


async def test_visit_steps_follow_the_state_machine(client, factory, owner_sessionmaker, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    appt = (await hold(client, headers, clinic, patient, slot["starts_at"])).json()
    await client.post(f"/api/v1/appointments/{appt['id']}/confirm", headers=headers)
    url = f"/api/v1/appointments/{appt['id']}"
    assert_problem(await client.post(f"{url}/complete", headers=headers), 409)  # not started
    assert "two hours" in assert_problem(await client.post(f"{url}/check-in", headers=headers), 409)["detail"]
    assert_problem(await client.post(f"{url}/no-show", headers=headers), 409)  # not over yet
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(
            text(
                "UPDATE appointments SET starts_at = now() + interval '10 minutes', "
                "ends_at = now() + interval '25 minutes' WHERE id = :i"
            ),
            {"i": appt["id"]},
        )
    for step, status in (("check-in", "checked_in"), ("start", "in_consultation"), ("complete", "completed")):
        r = await client.post(f"{url}/{step}", headers=headers)
        assert r.status_code == 200 and r.json()["status"] == status, r.text
    assert_problem(await client.post(f"{url}/cancel", headers=headers, json={"reason": "too late"}), 409)
    topics = await outbox_topics(owner_sessionmaker, clinic.tenant.id)
    assert topics[-3:] == ["appointment.checked_in", "appointment.started", "appointment.completed"]


async def test_requests_wait_for_the_practitioner_to_approve(client, factory, owner_sessionmaker):
    clinic = await make_bookable(factory, owner_sessionmaker, approves_bookings=True)
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    appt = (await hold(client, headers, clinic, patient, slot["starts_at"])).json()
    r = await client.post(f"/api/v1/appointments/{appt['id']}/confirm", headers=headers)
    assert r.json()["status"] == "requested"
    other_doctor = await factory.user(clinic.tenant, "doctor")
    assert_problem(
        await client.post(f"/api/v1/appointments/{appt['id']}/approve", headers=await factory.headers(other_doctor)),
        403,
    )
    r = await client.post(f"/api/v1/appointments/{appt['id']}/approve", headers=await factory.headers(clinic.doctor))
    assert r.status_code == 200 and r.json()["status"] == "confirmed"


async def test_reschedule_is_atomic(client, factory, owner_sessionmaker, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    a, b = await factory.patient(clinic.tenant), await factory.patient(clinic.tenant)
    slots = await free_slots(client, headers, clinic)
    first = (await hold(client, headers, clinic, a, slots[0]["starts_at"])).json()
    await client.post(f"/api/v1/appointments/{first['id']}/confirm", headers=headers)
    taken = (await hold(client, headers, clinic, b, slots[2]["starts_at"])).json()
    await client.post(f"/api/v1/appointments/{taken['id']}/confirm", headers=headers)
    # Onto a taken slot: refused, and the original booking is untouched.
    r = await client.post(
        f"/api/v1/appointments/{first['id']}/reschedule", headers=headers, json={"starts_at": slots[2]["starts_at"]}
    )
    assert_problem(r, 409)
    assert (await client.get(f"/api/v1/appointments/{first['id']}", headers=headers)).json()["status"] == "confirmed"
    # Onto an overlapping later slot of its own: allowed (its own time is freed in the same transaction).
    r = await client.post(
        f"/api/v1/appointments/{first['id']}/reschedule", headers=headers, json={"starts_at": slots[1]["starts_at"]}
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["status"] == "confirmed" and new["rescheduled_from_id"] == first["id"]
    old = (await client.get(f"/api/v1/appointments/{first['id']}", headers=headers)).json()
    assert old["status"] == "rescheduled" and old["rescheduled_to_id"] == new["id"]
    assert "appointment.rescheduled" in await outbox_topics(owner_sessionmaker, clinic.tenant.id)


async def test_idempotency_key_on_hold_and_confirm(client, factory, clinic):
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    key = {"Idempotency-Key": f"hold-{uuid.uuid4()}", **headers}
    first = await hold(client, key, clinic, patient, slot["starts_at"])
    second = await hold(client, key, clinic, patient, slot["starts_at"])
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    ckey = {"Idempotency-Key": f"confirm-{uuid.uuid4()}", **headers}
    c1 = await client.post(f"/api/v1/appointments/{first.json()['id']}/confirm", headers=ckey)
    c2 = await client.post(f"/api/v1/appointments/{first.json()['id']}/confirm", headers=ckey)
    assert c1.status_code == c2.status_code == 200 and c1.json() == c2.json()


async def test_booking_across_a_dst_change_lands_at_the_chosen_local_time(client, factory, owner_sessionmaker):
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    clinic = await make_bookable(factory, owner_sessionmaker, tz="Europe/London", start=time(9), end=time(10))
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    # The next Monday after the next DST change in London, whichever way it goes.
    now = datetime.now(UTC)
    day = now.date() + timedelta(days=1)
    offset = datetime.combine(day, time(12), tzinfo=london).utcoffset()
    while datetime.combine(day, time(12), tzinfo=london).utcoffset() == offset and (day - now.date()).days < 220:
        day += timedelta(days=1)
    r = await client.get(
        f"/api/v1/practitioners/{clinic.practitioner_id}/availability",
        params={"service_id": str(clinic.service_id), "from": day.isoformat(), "days": 1},
        headers=headers,
    )
    slot = r.json()["slots"][0]
    assert datetime.fromisoformat(slot["starts_at"]).astimezone(london).time() == time(9)
    appt = (await hold(client, headers, clinic, patient, slot["starts_at"])).json()
    stored = datetime.fromisoformat(appt["starts_at"])
    assert stored.astimezone(london).time() == time(9)
    assert stored.utcoffset() == timedelta(0)  # stored and returned in UTC
