"""The scheduled jobs: reminders once per appointment and offset, no-show marking, agenda, report, cleanup."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text, update

from carebase.core.worker import CronRun
from carebase.identity.models import OneTimeCode
from carebase.jobs import scheduled
from carebase.scheduling.models import Appointment
from tests.scheduling.bookable import make_bookable


async def _book(client, factory, owner_sessionmaker):  # type: ignore[no-untyped-def]
    clinic = await make_bookable(factory, owner_sessionmaker)
    desk = await factory.user(clinic.tenant, "receptionist")
    headers = await factory.headers(desk)
    patient = await factory.patient(clinic.tenant)
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    r = await client.get(f"/api/v1/practitioners/{clinic.practitioner_id}/availability",
                         params={"service_id": str(clinic.service_id), "from": day.isoformat(), "days": 1},
                         headers=headers)  # fmt: skip
    assert r.status_code == 200, r.text
    slots = r.json()["slots"] if isinstance(r.json(), dict) else r.json()
    starts = slots[0]["starts_at"]
    r = await client.post("/api/v1/holds", headers=headers, json={
        "practitioner_id": str(clinic.practitioner_id), "service_id": str(clinic.service_id),
        "patient_id": str(patient), "starts_at": starts, "source": "front_desk"})  # fmt: skip
    assert r.status_code == 201, r.text
    appointment_id = r.json()["id"]
    r = await client.post(f"/api/v1/appointments/{appointment_id}/confirm", headers=headers)
    assert r.status_code == 200, r.text
    return clinic, uuid.UUID(appointment_id), datetime.fromisoformat(starts)


async def _events(owner_sessionmaker, tenant_id, topic):  # type: ignore[no-untyped-def]
    async with owner_sessionmaker() as s:
        rows = await s.execute(text("SELECT payload, dedupe_key FROM outbox WHERE tenant_id = :t AND topic = :p"),
                               {"t": tenant_id, "p": topic})  # fmt: skip
        return rows.all()


async def test_reminders_are_materialised_once_per_offset(client, factory, owner_sessionmaker):
    clinic, appointment_id, starts = await _book(client, factory, owner_sessionmaker)
    tenant = clinic.tenant.id

    async def run(due: datetime) -> None:
        async with owner_sessionmaker() as s, s.begin():
            await scheduled.reminders(s, CronRun("reminders", tenant, due, "Asia/Kolkata"))

    for minutes in (10, 5, 0):  # three runs (and two workers' worth of repeats) inside the 24 h window
        await run(starts - timedelta(hours=24) + timedelta(minutes=minutes))
        await run(starts - timedelta(hours=24) + timedelta(minutes=minutes))
    events = await _events(owner_sessionmaker, tenant, "appointment.reminder")
    assert [(e.payload["appointment_id"], e.payload["offset_hours"]) for e in events] == [(str(appointment_id), 24)]
    await run(starts - timedelta(hours=2))
    await run(starts - timedelta(hours=1, minutes=55))
    events = await _events(owner_sessionmaker, tenant, "appointment.reminder")
    assert sorted(e.payload["offset_hours"] for e in events) == [2, 24]


async def test_no_show_marking_is_a_system_transition(client, factory, owner_sessionmaker):
    clinic, appointment_id, starts = await _book(client, factory, owner_sessionmaker)
    async with owner_sessionmaker() as s, s.begin():
        past = datetime.now(UTC) - timedelta(hours=3)
        await s.execute(update(Appointment).where(Appointment.id == appointment_id)
                        .values(starts_at=past, ends_at=past + timedelta(minutes=15)))  # fmt: skip
    now = datetime.now(UTC)
    async with owner_sessionmaker() as s, s.begin():
        assert await scheduled.no_shows(s, CronRun("no_shows", clinic.tenant.id, now, "Asia/Kolkata")) == 1
    async with owner_sessionmaker() as s, s.begin():
        assert await scheduled.no_shows(s, CronRun("no_shows", clinic.tenant.id, now, "Asia/Kolkata")) == 0
        status = (await s.execute(text("SELECT status FROM appointments WHERE id = :i"), {"i": appointment_id}))
        assert status.scalar_one() == "no_show"
        audit = (await s.execute(text("SELECT actor_user_id, actor_role FROM audit_events WHERE tenant_id = :t"
                                      " AND action = 'scheduling.appointment.no_show'"),
                                 {"t": clinic.tenant.id})).all()  # fmt: skip
        assert audit == [(None, "system")]
    assert len(await _events(owner_sessionmaker, clinic.tenant.id, "appointment.no_show")) == 1


async def test_agenda_and_monthly_report(client, factory, owner_sessionmaker):
    clinic, appointment_id, starts = await _book(client, factory, owner_sessionmaker)
    admin = await factory.user(clinic.tenant, "hospital_admin")
    tz = "Asia/Kolkata"
    local_day = starts.astimezone(__import__("zoneinfo").ZoneInfo(tz)).date()
    eight = datetime.combine(local_day, datetime.min.time(), tzinfo=__import__("zoneinfo").ZoneInfo(tz)) + timedelta(
        hours=8)
    async with owner_sessionmaker() as s, s.begin():
        assert await scheduled.agenda(s, CronRun("agenda", clinic.tenant.id, eight.astimezone(UTC), tz)) == 1
        assert await scheduled.agenda(s, CronRun("agenda", clinic.tenant.id, eight.astimezone(UTC), tz)) == 0
    [agenda] = await _events(owner_sessionmaker, clinic.tenant.id, "agenda.daily")
    assert agenda.payload["practitioner_id"] == str(clinic.practitioner_id) and agenda.payload["appointments"] == 1
    # The report on the 1st of the month after the appointment covers that month.
    first_next = (local_day.replace(day=28) + timedelta(days=4)).replace(day=1)
    due = datetime.combine(first_next, datetime.min.time(), tzinfo=__import__("zoneinfo").ZoneInfo(tz)) + timedelta(
        hours=9)
    async with owner_sessionmaker() as s, s.begin():
        assert await scheduled.monthly_report(s, CronRun("monthly_report", clinic.tenant.id, due.astimezone(UTC), tz))
    [report] = await _events(owner_sessionmaker, clinic.tenant.id, "report.monthly")
    assert report.payload["month"] == local_day.strftime("%Y-%m")
    assert report.payload["appointments"] >= 1 and report.payload["new_patients"] >= 1
    assert str(admin.id) in report.payload["recipient_user_ids"]


async def test_cleanup_removes_expired_codes_and_keys(owner_sessionmaker):
    now = datetime.now(UTC)
    async with owner_sessionmaker() as s, s.begin():
        old = OneTimeCode(purpose="login", destination_hash="x" * 64, code_hash="y" * 64,
                          expires_at=now - timedelta(days=2))  # fmt: skip
        fresh = OneTimeCode(purpose="login", destination_hash="z" * 64, code_hash="y" * 64,
                            expires_at=now + timedelta(minutes=5))  # fmt: skip
        s.add_all([old, fresh])
    async with owner_sessionmaker() as s, s.begin():
        counts = await scheduled.cleanup_now(s, now)
        assert counts["one_time_codes"] >= 1
        left = (await s.execute(text("SELECT id FROM one_time_codes WHERE id IN (:a, :b)"),
                                {"a": old.id, "b": fresh.id})).scalars().all()  # fmt: skip
        assert left == [fresh.id]
