"""Event handlers through the worker: a booking made through the API, the outbox batch run on an owner
connection (``run_batch``), then the periodic delivery; the patient's email arrives at the real SMTP fake with
the .ics and the visit's local time. Re-running the batch (even after its delivery records are lost) sends
nothing twice: the notifications carry the event id as their dedupe key."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy import select

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.clock import utcnow
from carebase.core.outbox import emit
from carebase.core.worker import run_batch
from carebase.notifications import handlers
from carebase.notifications.models import Notification
from carebase.notifications.service import deliver_due
from tests.api.helpers import bearer
from tests.scheduling.bookable import Bookable, make_bookable
from tests.scheduling.test_booking import free_slots, hold
from tests.smtp import Mailbox

TOPICS = [*handlers.EVENTS, "device.approval_requested"]
UA = {"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/126.0"}


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.org"


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


async def work(conn: asyncpg.Connection, owner, *, now: datetime | None = None) -> None:  # type: ignore[no-untyped-def]
    """What a worker does: the notification handlers' events, then the periodic delivery of what is due."""
    while await run_batch(conn, sessions=owner, topics=TOPICS):
        pass
    async with owner() as s, s.begin():
        await deliver_due(s, limit=500, now=now)


async def replay(conn: asyncpg.Connection, owner, tenant_id: uuid.UUID) -> None:  # type: ignore[no-untyped-def]
    """The worst case for duplicates: the tenant's events run again as if never handled."""
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM outbox WHERE tenant_id = $1 AND topic = ANY($2)",
                                             tenant_id, TOPICS)]  # fmt: skip
    await conn.execute("DELETE FROM outbox_deliveries WHERE event_id = ANY($1::uuid[])", ids)
    await conn.execute("UPDATE outbox SET status = 'pending', available_at = now() WHERE id = ANY($1::uuid[])", ids)
    await work(conn, owner)


async def rows(owner, tenant_id: uuid.UUID, **where) -> list[Notification]:  # type: ignore[no-untyped-def]
    async with owner() as s:
        query = select(Notification).where(Notification.tenant_id == tenant_id)
        for key, value in where.items():
            query = query.where(getattr(Notification, key) == value)
        return list((await s.execute(query.order_by(Notification.created_at))).scalars())


async def portal_patient(factory, clinic: Bookable, given: str = "Asha"):  # type: ignore[no-untyped-def]
    user = await factory.user(clinic.tenant, "patient", email=_email(given.lower()))
    patient = await factory.patient(clinic.tenant, user=user, given=given)
    return user, patient


async def book(client, headers, clinic: Bookable, patient_id, starts_at: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    r = await hold(client, headers, clinic, patient_id, starts_at, **extra)
    assert r.status_code == 201, r.text
    confirmed = await client.post(f"/api/v1/appointments/{r.json()['id']}/confirm", headers=headers)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed", confirmed.text
    return confirmed.json()


def local_label(starts_at: str, tz: str) -> str:
    local = datetime.fromisoformat(starts_at).astimezone(ZoneInfo(tz))
    return f"{local:%d %b %Y, %H:%M} {local.tzname()}"


def ics_of(message) -> str:  # type: ignore[no-untyped-def]
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert part.get_filename() == "appointment.ics"
    return part.get_payload(decode=True).decode()


async def test_confirmation_email_with_ics_and_local_time_once(client, factory, owner_sessionmaker, conn,
                                                               mailbox: Mailbox):  # fmt: skip
    clinic = await make_bookable(factory, owner_sessionmaker, tz="America/New_York")
    desk_headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    user, patient = await portal_patient(factory, clinic)
    slot = (await free_slots(client, desk_headers, clinic))[0]
    appt = await book(client, desk_headers, clinic, patient, slot["starts_at"])

    await work(conn, owner_sessionmaker)
    message = await mailbox.wait_for(user.email)
    assert "confirmed" in message["Subject"].lower()
    text = Mailbox.text(message)
    # 09:00 at the clinic, in the clinic's zone (EST/EDT), not UTC.
    assert local_label(appt["starts_at"], "America/New_York") in text and " 09:00 " in text
    assert "Dr. Test" in text and "Consultation" in text
    ics = ics_of(message)
    assert "BEGIN:VEVENT" in ics and appt["id"] in ics
    start = datetime.fromisoformat(appt["starts_at"]).astimezone(UTC)
    assert f"DTSTART:{start:%Y%m%dT%H%M%SZ}" in ics  # UTC in the file; calendars show it locally
    (email_row,) = await rows(owner_sessionmaker, clinic.tenant.id, channel="email")
    assert email_row.status == "sent" and email_row.template == "appointment_confirmed"
    (inbox,) = await rows(owner_sessionmaker, clinic.tenant.id, channel="in_app", user_id=user.id)
    assert inbox.status == "delivered" and inbox.link == "/my/appointments"
    # Open screens hear of it (bell count, toast) through the outbox, with a title and no body.
    (announced,) = await conn.fetch("SELECT payload::text FROM outbox WHERE tenant_id = $1 AND topic = $2",
                                    clinic.tenant.id, "notification.created")  # fmt: skip
    payload = json.loads(announced[0])
    assert payload["notification_id"] == str(inbox.id) and payload["user_id"] == str(user.id)
    assert payload["unread_count"] == 1 and payload["title"] == inbox.subject and "body" not in payload

    await work(conn, owner_sessionmaker)
    await replay(conn, owner_sessionmaker, clinic.tenant.id)
    assert len(mailbox.to(user.email)) == 1
    assert len(await rows(owner_sessionmaker, clinic.tenant.id)) == 2  # one email, one in-app


async def test_cancelled_and_rescheduled_reach_the_patient_once(client, factory, owner_sessionmaker, conn,
                                                                mailbox: Mailbox):  # fmt: skip
    clinic = await make_bookable(factory, owner_sessionmaker)
    desk_headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    user, patient = await portal_patient(factory, clinic)
    slots = await free_slots(client, desk_headers, clinic)
    appt = await book(client, desk_headers, clinic, patient, slots[0]["starts_at"])
    await work(conn, owner_sessionmaker)
    await mailbox.wait_for(user.email)  # the confirmation

    moved = await client.post(f"/api/v1/appointments/{appt['id']}/reschedule", headers=desk_headers,
                              json={"starts_at": slots[2]["starts_at"]})  # fmt: skip
    assert moved.status_code == 201, moved.text
    await work(conn, owner_sessionmaker)
    message = await mailbox.wait_for(user.email, after=1)
    assert "rescheduled" in message["Subject"].lower() or "moved" in message["Subject"].lower()
    assert local_label(slots[2]["starts_at"], "Asia/Kolkata") in Mailbox.text(message)
    assert moved.json()["id"] in ics_of(message)

    r = await client.post(f"/api/v1/appointments/{moved.json()['id']}/cancel", headers=desk_headers,
                          json={"reason": "Doctor unavailable"})  # fmt: skip
    assert r.status_code == 200, r.text
    await work(conn, owner_sessionmaker)
    message = await mailbox.wait_for(user.email, after=2)
    assert "cancelled" in message["Subject"].lower()
    text = Mailbox.text(message)
    assert local_label(slots[2]["starts_at"], "Asia/Kolkata") in text and "Doctor unavailable" in text

    await replay(conn, owner_sessionmaker, clinic.tenant.id)
    assert len(mailbox.to(user.email)) == 3
    templates = sorted(n.template for n in await rows(owner_sessionmaker, clinic.tenant.id, channel="email"))
    assert templates == ["appointment_cancelled", "appointment_confirmed", "appointment_rescheduled"]


async def test_a_waitlist_offer_reaches_the_waiting_patient(client, factory, owner_sessionmaker, conn,
                                                            mailbox: Mailbox):  # fmt: skip
    clinic = await make_bookable(factory, owner_sessionmaker)
    desk_headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    slot = (await free_slots(client, desk_headers, clinic))[0]
    appt = await book(client, desk_headers, clinic, await factory.patient(clinic.tenant), slot["starts_at"])
    waiter = await factory.user(clinic.tenant, "patient", email=_email("waiter"), password="a-patient-password")
    waiter_patient = await factory.patient(clinic.tenant, user=waiter, given="Bina")
    day = datetime.fromisoformat(slot["starts_at"]).date()
    r = await client.post("/api/v1/waitlist", headers=await factory.headers(waiter), json={
        "patient_id": str(waiter_patient), "practitioner_id": str(clinic.practitioner_id),
        "service_id": str(clinic.service_id), "earliest_date": day.isoformat(),
        "latest_date": (day + timedelta(days=3)).isoformat()})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/appointments/{appt['id']}/cancel", headers=desk_headers, json={"reason": "ill"})
    assert r.status_code == 200, r.text

    await work(conn, owner_sessionmaker)
    message = await mailbox.wait_for(waiter.email)
    text = Mailbox.text(message)
    assert local_label(slot["starts_at"], "Asia/Kolkata") in text and "Dr. Test" in text
    (row,) = await rows(owner_sessionmaker, clinic.tenant.id, channel="email", user_id=waiter.id)
    assert row.template == "waitlist_offer" and row.category == "waitlist" and row.status == "sent"
    await replay(conn, owner_sessionmaker, clinic.tenant.id)
    assert len(mailbox.to(waiter.email)) == 1


async def test_a_reminder_respects_preferences_and_quiet_hours(client, factory, owner_sessionmaker, conn,
                                                               mailbox: Mailbox):  # fmt: skip
    clinic = await make_bookable(factory, owner_sessionmaker)
    desk_headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    user, patient = await portal_patient(factory, clinic)
    slot = (await free_slots(client, desk_headers, clinic))[0]
    appt = await book(client, desk_headers, clinic, patient, slot["starts_at"])
    await work(conn, owner_sessionmaker)
    await mailbox.wait_for(user.email)  # the confirmation

    # The patient wants no in-app reminders and has quiet hours around the current local time.
    local = utcnow().astimezone(ZoneInfo("Asia/Kolkata"))
    starts = (local - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    ends = (local + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    r = await client.put("/api/v1/my/notification-preferences", headers=bearer(await factory.login(user)), json={
        "preferences": [{"channel": "in_app", "category": "reminder", "enabled": False}],
        "quiet_hours": {"starts": starts.isoformat("minutes"), "ends": ends.isoformat("minutes")}})  # fmt: skip
    assert r.status_code == 200, r.text

    payload = {"appointment_id": appt["id"], "patient_id": str(patient), "starts_at": appt["starts_at"],
               "status": "confirmed", "offset_hours": 24}  # fmt: skip
    async with owner_sessionmaker() as s, s.begin():
        await emit(s, clinic.tenant.id, "appointment.reminder", payload, dedupe_key=f"reminder:{appt['id']}:24h")
    await work(conn, owner_sessionmaker)
    (in_app,) = await rows(owner_sessionmaker, clinic.tenant.id, template="appointment_reminder", channel="in_app")
    assert in_app.status == "suppressed" and in_app.suppressed_reason == "preference"
    (email,) = await rows(owner_sessionmaker, clinic.tenant.id, template="appointment_reminder", channel="email")
    assert email.status == "queued" and email.held_reason == "quiet_hours"
    assert email.next_attempt_at is not None and email.next_attempt_at > utcnow() + timedelta(minutes=100)
    assert len(mailbox.to(user.email)) == 1  # held: not sent during the quiet hours

    await work(conn, owner_sessionmaker, now=email.next_attempt_at + timedelta(seconds=1))  # the hours are over
    message = await mailbox.wait_for(user.email, after=1)
    assert "tomorrow" in Mailbox.text(message)  # a 24-hour reminder
    assert local_label(appt["starts_at"], "Asia/Kolkata") in Mailbox.text(message)
    await replay(conn, owner_sessionmaker, clinic.tenant.id)
    await work(conn, owner_sessionmaker, now=email.next_attempt_at + timedelta(hours=1))
    assert len(mailbox.to(user.email)) == 2
    assert len(await rows(owner_sessionmaker, clinic.tenant.id, template="appointment_reminder")) == 2


async def test_a_reminder_for_a_cancelled_visit_is_not_sent(client, factory, owner_sessionmaker, conn,
                                                            mailbox: Mailbox):  # fmt: skip
    clinic = await make_bookable(factory, owner_sessionmaker)
    desk_headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    user, patient = await portal_patient(factory, clinic)
    slot = (await free_slots(client, desk_headers, clinic))[0]
    appt = await book(client, desk_headers, clinic, patient, slot["starts_at"])
    r = await client.post(f"/api/v1/appointments/{appt['id']}/cancel", headers=desk_headers, json={"reason": "ill"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    async with owner_sessionmaker() as s, s.begin():
        await emit(s, clinic.tenant.id, "appointment.reminder", {"appointment_id": appt["id"], "offset_hours": 2})
    await work(conn, owner_sessionmaker)
    assert await rows(owner_sessionmaker, clinic.tenant.id, template="appointment_reminder") == []


async def test_a_device_approval_request_reaches_the_hospital_admins(client, factory, owner_sessionmaker, conn,
                                                                     mailbox: Mailbox):  # fmt: skip
    tenant = await factory.tenant(device_approval=True)
    admins = [await factory.user(tenant, "hospital_admin", email=_email("admin")) for _ in range(2)]
    other_tenant_admin = await factory.user(await factory.tenant(), "hospital_admin", email=_email("other"))
    doctor = await factory.user(tenant, "doctor")
    r = await client.post("/api/v1/auth/login", json={"email": doctor.email, "password": doctor.password}, headers=UA)
    assert r.status_code == 202 and r.json()["status"] == "device_pending", r.text

    await work(conn, owner_sessionmaker)
    for admin in admins:
        message = await mailbox.wait_for(admin.email)
        assert "Chrome on Android" in Mailbox.text(message) and "Test Doctor" in Mailbox.text(message)
        headers = bearer(await factory.login(admin))
        page = (await client.get("/api/v1/my/notifications", headers=headers)).json()
        (item,) = [i for i in page["items"] if i["template"] == "device_approval"]
        assert item["link"] == "/admin/devices" and item["category"] == "admin"
    assert mailbox.to(other_tenant_admin.email) == []
    assert mailbox.to(doctor.email) == []

    await replay(conn, owner_sessionmaker, tenant.id)
    assert all(len(mailbox.to(a.email)) == 1 for a in admins)
    assert len(await rows(owner_sessionmaker, tenant.id, template="device_approval")) == 4  # 2 admins x 2 channels


def test_reminder_offset_label_reads_the_cron_payload():
    assert handlers._offset_label({"offset_hours": 24}, "en") == "tomorrow"
    assert handlers._offset_label({"offset_hours": 2}, "en") == "in 2 hours"
    assert handlers._offset_label({"offset_minutes": 2880}, "hi") == "2 दिन में"


async def test_a_finished_export_is_announced_with_its_link(client, factory, owner_sessionmaker, conn,
                                                             mailbox: Mailbox):  # fmt: skip
    from carebase.jobs.models import Job
    from carebase.notifications.models import Notification as Row

    tenant = await factory.tenant()
    desk = await factory.user(tenant, "receptionist", email=_email("desk"))
    body = {"kind": "appointments_export"}
    r = await client.post("/api/v1/jobs/exports", headers=await factory.headers(desk), json=body)
    assert r.status_code in (201, 202), r.text
    job_id = uuid.UUID(r.json()["id"])
    before = len(mailbox.to(desk.email))
    while await run_batch(conn, sessions=owner_sessionmaker, topics=["job.requested", "job.finished"]):
        pass
    async with owner_sessionmaker() as s, s.begin():
        await deliver_due(s, limit=500)
        assert (await s.get(Job, job_id)).status == "done"  # type: ignore[union-attr]
    message = await mailbox.wait_for(desk.email, after=before)
    assert "export is ready" in str(message["Subject"]).lower()
    assert f"/exports/{job_id}" in Mailbox.text(message)
    async with owner_sessionmaker() as s:
        channels = (await s.execute(select(Row.channel).where(Row.source_id == job_id))).scalars().all()
    assert sorted(channels) == ["email", "in_app"]


async def test_the_daily_agenda_and_the_monthly_report_reach_their_people(factory, owner_sessionmaker, conn,
                                                                          mailbox: Mailbox):  # fmt: skip
    from carebase.core.db import set_context

    clinic = await make_bookable(factory, owner_sessionmaker)
    doctor_email = clinic.doctor.email
    admin = await factory.user(clinic.tenant, "hospital_admin", email=_email("admin"))
    first = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    async with owner_sessionmaker() as s, s.begin():
        await set_context(s, tenant_id=clinic.tenant.id)
        await emit(s, clinic.tenant.id, "agenda.daily", {
            "practitioner_id": str(clinic.practitioner_id), "date": first.date().isoformat(), "appointments": 7,
            "first_starts_at": first.isoformat()})
        await emit(s, clinic.tenant.id, "report.monthly", {
            "month": "2026-10", "appointments": 40, "no_shows": 2, "no_show_rate": 0.05, "new_patients": 9,
            "recipient_user_ids": [str(admin.id)]})
    before_doctor, before_admin = len(mailbox.to(doctor_email)), len(mailbox.to(admin.email))
    while await run_batch(conn, sessions=owner_sessionmaker, topics=["agenda.daily", "report.monthly"]):
        pass
    async with owner_sessionmaker() as s, s.begin():
        await deliver_due(s, limit=500)
    agenda = await mailbox.wait_for(doctor_email, after=before_doctor)
    assert "7 appointments" in str(agenda["Subject"])
    local = first.astimezone(ZoneInfo("Asia/Kolkata"))
    assert f"{local:%H:%M}" in Mailbox.text(agenda)
    report = await mailbox.wait_for(admin.email, after=before_admin)
    assert "2026-10" in str(report["Subject"]) and "5.0%" in Mailbox.text(report)


async def test_a_dependants_confirmation_reaches_the_guardian_not_the_desk(client, factory, owner_sessionmaker, conn,
                                                                          mailbox: Mailbox):  # fmt: skip
    """A child has no account: the guardian who booked hears of it. A desk booking for a patient without an
    account reaches no staff member (the patient's own contacts, when the record has them)."""
    clinic = await make_bookable(factory, owner_sessionmaker)
    guardian, _ = await portal_patient(factory, clinic, "Ravi")
    headers = await factory.headers(guardian)
    child = await client.post("/api/v1/my/dependents", headers=headers, json={
        "given_name": "Meera", "family_name": "Kumar", "birth_date": "2019-05-04", "sex": "female",
        "relationship": "child", "consent_note": "Parent with legal responsibility"})  # fmt: skip
    assert child.status_code == 201, child.text
    slots = await free_slots(client, headers, clinic)
    appt = await book(client, headers, clinic, child.json()["patient_id"], slots[0]["starts_at"],
                      source="patient")  # fmt: skip
    desk = await factory.user(clinic.tenant, "receptionist", email=_email("desk"))
    await book(client, await factory.headers(desk), clinic, await factory.patient(clinic.tenant), slots[1]["starts_at"])
    await work(conn, owner_sessionmaker)
    message = await mailbox.wait_for(guardian.email)
    assert "confirmed" in message["Subject"].lower() and appt["id"] in ics_of(message)
    assert [n.user_id for n in await rows(owner_sessionmaker, clinic.tenant.id)] == [guardian.id, guardian.id]
    assert mailbox.to(desk.email) == []
