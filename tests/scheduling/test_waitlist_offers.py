"""Waitlist offers follow the schedule and the service: a cancellation during the practitioner's time off,
on a holiday or after their template ended offers nothing (and uses up nobody's place); a waiter for a
service that does not fit the freed time is passed over, and one whose service fits is offered it."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text, update

from carebase.directory.models import PractitionerService, Service
from carebase.scheduling.models import Holiday, ScheduleException, ScheduleTemplate
from tests.scheduling.bookable import Bookable, make_bookable
from tests.scheduling.test_booking import free_slots, hold


async def _booked(client, factory, headers, clinic: Bookable) -> dict:  # type: ignore[no-untyped-def]
    """A confirmed booking on the first free slot."""
    slot = (await free_slots(client, headers, clinic))[0]
    patient = await factory.patient(clinic.tenant, given="Booked")
    appointment = (await hold(client, headers, clinic, patient, slot["starts_at"])).json()
    r = await client.post(f"/api/v1/appointments/{appointment['id']}/confirm", headers=headers)
    assert r.status_code == 200, r.text
    return appointment


async def _wait(client, factory, headers, clinic: Bookable, day: date, service_id: uuid.UUID,
                name: str) -> str:  # type: ignore[no-untyped-def]  # fmt: skip
    patient = await factory.patient(clinic.tenant, given=name)
    r = await client.post("/api/v1/waitlist", headers=headers, json={
        "patient_id": str(patient), "practitioner_id": str(clinic.practitioner_id), "service_id": str(service_id),
        "earliest_date": day.isoformat(), "latest_date": (day + timedelta(days=2)).isoformat(),
    })  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _cancel(client, headers, appointment: dict) -> None:  # type: ignore[no-untyped-def]
    r = await client.post(f"/api/v1/appointments/{appointment['id']}/cancel", headers=headers, json={"reason": "ill"})
    assert r.status_code == 200, r.text


async def _entry(owner, entry_id: str) -> tuple[str, uuid.UUID | None]:  # type: ignore[no-untyped-def]
    async with owner() as s:
        query = text("SELECT status, offered_appointment_id FROM waitlist_entries WHERE id = :i")
        status, offered = (await s.execute(query, {"i": entry_id})).one()
    return status, offered


async def _waitlist_holds(owner, clinic: Bookable) -> list[tuple[uuid.UUID, datetime, datetime]]:  # type: ignore[no-untyped-def]
    async with owner() as s:
        query = text("SELECT service_id, starts_at, ends_at FROM appointments WHERE practitioner_id = :p"
                     " AND source = 'waitlist'")  # fmt: skip
        return [tuple(r) for r in (await s.execute(query, {"p": clinic.practitioner_id}))]


async def _service(owner, clinic: Bookable, name: str, minutes: int) -> uuid.UUID:  # type: ignore[no-untyped-def]
    """Another service the practitioner offers."""
    async with owner() as s, s.begin():
        service = Service(tenant_id=clinic.tenant.id, name=name, duration_minutes=minutes, price_minor=30000,
                          currency="INR", mode="in_person")  # fmt: skip
        s.add(service)
        await s.flush()
        s.add(PractitionerService(tenant_id=clinic.tenant.id, practitioner_id=clinic.practitioner_id,
                                  service_id=service.id))  # fmt: skip
        return service.id


@pytest.fixture
async def clinic(factory, owner_sessionmaker) -> Bookable:  # type: ignore[no-untyped-def]
    return await make_bookable(factory, owner_sessionmaker)


@pytest.mark.parametrize("closed_by", ["time_off", "holiday", "template_ended"])
async def test_a_cancellation_outside_the_schedule_is_offered_to_nobody(
    client, factory, owner_sessionmaker, clinic, closed_by
):  # type: ignore[no-untyped-def]
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    appointment = await _booked(client, factory, headers, clinic)
    starts_at = datetime.fromisoformat(appointment["starts_at"])
    day = starts_at.astimezone(ZoneInfo("Asia/Kolkata")).date()
    entry = await _wait(client, factory, headers, clinic, day, clinic.service_id, "Hari")
    # After the booking, the practitioner's schedule closes that time.
    async with owner_sessionmaker() as s, s.begin():
        if closed_by == "time_off":
            s.add(ScheduleException(tenant_id=clinic.tenant.id, practitioner_id=clinic.practitioner_id,
                                    kind="time_off", starts_at=starts_at - timedelta(hours=1),
                                    ends_at=starts_at + timedelta(hours=2), reason="Conference"))  # fmt: skip
        elif closed_by == "holiday":
            s.add(Holiday(tenant_id=clinic.tenant.id, day=day, name="Festival"))
        else:
            await s.execute(update(ScheduleTemplate).where(ScheduleTemplate.practitioner_id == clinic.practitioner_id)
                            .values(valid_until=day - timedelta(days=1)))  # fmt: skip

    await _cancel(client, headers, appointment)
    assert await _entry(owner_sessionmaker, entry) == ("waiting", None)  # still in line for a real slot
    assert await _waitlist_holds(owner_sessionmaker, clinic) == []


async def test_a_waiter_for_a_service_that_does_not_fit_is_passed_over(client, factory, owner_sessionmaker, clinic):
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    appointment = await _booked(client, factory, headers, clinic)  # a 15-minute consultation
    day = datetime.fromisoformat(appointment["starts_at"]).astimezone(ZoneInfo("Asia/Kolkata")).date()
    long_service = await _service(owner_sessionmaker, clinic, "Minor procedure", 60)
    first = await _wait(client, factory, headers, clinic, day, long_service, "Indu")  # first in line, wants an hour
    second = await _wait(client, factory, headers, clinic, day, clinic.service_id, "Jai")  # wants what was freed

    await _cancel(client, headers, appointment)
    assert await _entry(owner_sessionmaker, first) == ("waiting", None)
    status, offered = await _entry(owner_sessionmaker, second)
    assert status == "offered" and offered is not None
    [(service_id, starts_at, ends_at)] = await _waitlist_holds(owner_sessionmaker, clinic)
    assert service_id == clinic.service_id and starts_at == datetime.fromisoformat(appointment["starts_at"])
    assert ends_at - starts_at == timedelta(minutes=15)


async def test_a_shorter_service_is_offered_the_freed_time_on_its_own_terms(
    client, factory, owner_sessionmaker, clinic
):  # type: ignore[no-untyped-def]
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    appointment = await _booked(client, factory, headers, clinic)
    day = datetime.fromisoformat(appointment["starts_at"]).astimezone(ZoneInfo("Asia/Kolkata")).date()
    short_service = await _service(owner_sessionmaker, clinic, "Dressing change", 10)
    entry = await _wait(client, factory, headers, clinic, day, short_service, "Kavya")

    await _cancel(client, headers, appointment)
    status, offered = await _entry(owner_sessionmaker, entry)
    assert status == "offered"
    r = await client.get(f"/api/v1/appointments/{offered}", headers=headers)
    assert r.status_code == 200, r.text
    held = r.json()
    assert held["status"] == "held" and held["source"] == "waitlist"
    assert held["service_id"] == str(short_service) and held["price_minor"] == 30000
    assert datetime.fromisoformat(held["ends_at"]) - datetime.fromisoformat(held["starts_at"]) == timedelta(minutes=10)


async def test_leaving_with_an_open_offer_releases_the_time_to_the_next_waiter(
    client, factory, owner_sessionmaker, clinic
):  # type: ignore[no-untyped-def]
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    appointment = await _booked(client, factory, headers, clinic)
    day = datetime.fromisoformat(appointment["starts_at"]).astimezone(ZoneInfo("Asia/Kolkata")).date()
    first = await _wait(client, factory, headers, clinic, day, clinic.service_id, "Lata")
    second = await _wait(client, factory, headers, clinic, day, clinic.service_id, "Manoj")
    await _cancel(client, headers, appointment)
    status, first_hold = await _entry(owner_sessionmaker, first)
    assert status == "offered" and first_hold is not None
    assert await _entry(owner_sessionmaker, second) == ("waiting", None)

    r = await client.delete(f"/api/v1/waitlist/{first}", headers=headers)  # Lata no longer wants it
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/appointments/{first_hold}", headers=headers)
    assert r.json()["status"] == "cancelled"  # her hold is released at once, not left to lapse
    status, second_hold = await _entry(owner_sessionmaker, second)
    assert status == "offered" and second_hold not in (None, first_hold)
    r = await client.get(f"/api/v1/appointments/{second_hold}", headers=headers)
    assert r.json()["status"] == "held" and r.json()["starts_at"] == appointment["starts_at"]


async def test_confirming_an_offer_closes_the_waitlist_entry_at_once(client, factory, owner_sessionmaker, clinic):
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    appointment = await _booked(client, factory, headers, clinic)
    day = datetime.fromisoformat(appointment["starts_at"]).astimezone(ZoneInfo("Asia/Kolkata")).date()
    entry = await _wait(client, factory, headers, clinic, day, clinic.service_id, "Nandini")
    await _cancel(client, headers, appointment)
    status, offered = await _entry(owner_sessionmaker, entry)
    assert status == "offered"

    r = await client.post(f"/api/v1/appointments/{offered}/confirm", headers=headers)
    assert r.status_code == 200, r.text
    assert await _entry(owner_sessionmaker, entry) == ("booked", offered)  # not left to the worker's next pass
    r = await client.get("/api/v1/waitlist", headers=headers)
    assert entry not in [e["id"] for e in r.json()]  # no longer listed as waiting or offered
