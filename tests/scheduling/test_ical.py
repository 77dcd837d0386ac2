"""iCalendar: an appointment's .ics and the practitioner's private feed, parsed with the
``icalendar`` library; UTC times right across DST; the feed names no patients; tokens rotate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import icalendar
import pytest

from carebase.scheduling.ical import appointment_ics, fold, practitioner_feed_ics
from tests.api.helpers import assert_problem, audit_actions, scalar
from tests.factories import Factory, UserInfo
from tests.scheduling.schedule_helpers import appointment, location, practitioner, service

LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")


def events(body: bytes) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    assert calendar["VERSION"] == "2.0" and "PRODID" in calendar
    return list(calendar.walk("VEVENT"))


def utc(value: icalendar.prop.vDDDTypes) -> datetime:
    dt = value.dt
    assert dt.tzinfo is not None and dt.utcoffset() == timedelta(0), "times must be in UTC"
    return dt


@pytest.fixture
async def clinic(factory: Factory, owner_sessionmaker) -> SimpleNamespace:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    doctor, pid = await practitioner(factory, tenant, name="Dr. Anil Rao")
    patient_user = await factory.user(tenant, "patient")
    patient_id = await factory.patient(tenant, user=patient_user, given="Asha", family="Kumar")
    service_id = await service(owner_sessionmaker, tenant, "General consultation")
    london = await location(owner_sessionmaker, tenant, "Europe/London", name="Camden Clinic")
    return SimpleNamespace(
        tenant=tenant, doctor=doctor, practitioner_id=pid, patient_user=patient_user, patient_id=patient_id,
        service_id=service_id, london=london,
    )  # fmt: skip


async def book(owner, c: SimpleNamespace, starts_at: datetime, *, location_id=None, **kw) -> uuid.UUID:  # type: ignore[no-untyped-def]
    return await appointment(
        owner, c.tenant, practitioner_id=c.practitioner_id, patient_id=c.patient_id, service_id=c.service_id,
        location_id=location_id or c.tenant.location_id, booked_by=c.patient_user.id, starts_at=starts_at, **kw,
    )  # fmt: skip


async def test_appointment_ics_in_utc_for_kolkata_and_london_across_dst(client, factory, clinic, owner_sessionmaker):
    h = await factory.headers(clinic.patient_user)
    # 10:30 in Kolkata (UTC+05:30, no DST) is 05:00 UTC.
    kolkata = await book(owner_sessionmaker, clinic, datetime(2027, 3, 26, 10, 30, tzinfo=KOLKATA), version=3)
    # 09:00 in London on the Friday before the clocks go forward (GMT) and the Monday after (BST).
    before = await book(
        owner_sessionmaker, clinic, datetime(2027, 3, 26, 9, 0, tzinfo=LONDON), location_id=clinic.london
    )
    after = await book(
        owner_sessionmaker, clinic, datetime(2027, 3, 29, 9, 0, tzinfo=LONDON), location_id=clinic.london
    )
    expected = {
        kolkata: datetime(2027, 3, 26, 5, 0, tzinfo=UTC),
        before: datetime(2027, 3, 26, 9, 0, tzinfo=UTC),
        after: datetime(2027, 3, 29, 8, 0, tzinfo=UTC),
    }
    for appointment_id, start in expected.items():
        r = await client.get(f"/api/v1/appointments/{appointment_id}/ics", headers=h)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/calendar")
        assert b"\r\n" in r.content
        (event,) = events(r.content)
        assert str(event["UID"]) == f"{appointment_id}@carebase"
        assert utc(event["DTSTART"]) == start
        assert utc(event["DTEND"]) == start + timedelta(minutes=30)
        assert utc(event["DTSTAMP"])
        assert event["STATUS"] == "CONFIRMED"
        assert str(event["SUMMARY"]) == "General consultation with Dr. Anil Rao"
    (event,) = events((await client.get(f"/api/v1/appointments/{kolkata}/ics", headers=h)).content)
    assert event["SEQUENCE"] == 3
    assert "10:30 (Asia/Kolkata)" in str(event["DESCRIPTION"])
    (event,) = events((await client.get(f"/api/v1/appointments/{after}/ics", headers=h)).content)
    assert "Camden Clinic" in str(event["LOCATION"]) and "09:00 (Europe/London)" in str(event["DESCRIPTION"])
    reads = await audit_actions(owner_sessionmaker, clinic.tenant.id, action="scheduling.appointment.read")
    assert len(reads) == 5 and reads[0]["patient_id"] == clinic.patient_id


async def test_who_may_download_an_appointment(client, factory, clinic, owner_sessionmaker):
    appointment_id = await book(owner_sessionmaker, clinic, datetime(2027, 1, 5, 10, 0, tzinfo=KOLKATA))
    url = f"/api/v1/appointments/{appointment_id}/ics"
    receptionist = await factory.user(clinic.tenant, "receptionist")
    assert (await client.get(url, headers=await factory.headers(receptionist))).status_code == 200
    # A guardian of the patient may; another patient of the same organisation gets a 404.
    guardian = await factory.user(clinic.tenant, "patient")
    async with owner_sessionmaker() as s, s.begin():
        from carebase.scheduling.models import Dependent

        s.add(Dependent(tenant_id=clinic.tenant.id, guardian_user_id=guardian.id, patient_id=clinic.patient_id,
                        relationship="parent", consent_note="test"))  # fmt: skip
    assert (await client.get(url, headers=await factory.headers(guardian))).status_code == 200
    stranger = await factory.user(clinic.tenant, "patient")
    assert_problem(await client.get(url, headers=await factory.headers(stranger)), 404)
    # Another organisation's staff cannot see it either.
    elsewhere = await factory.tenant()
    foreign_nurse = await factory.user(elsewhere, "nurse")
    assert_problem(await client.get(url, headers=await factory.headers(foreign_nurse)), 404)
    pharmacist = await factory.user(clinic.tenant, "pharmacist")
    assert_problem(await client.get(url, headers=await factory.headers(pharmacist)), 403)


@pytest.mark.parametrize(
    ("status", "ics_status"),
    [("requested", "TENTATIVE"), ("checked_in", "CONFIRMED"), ("cancelled", "CANCELLED"), ("no_show", "CANCELLED")],
)
async def test_status_maps_to_ics_status(client, factory, clinic, owner_sessionmaker, status, ics_status):
    appointment_id = await book(owner_sessionmaker, clinic, datetime(2027, 1, 5, 11, 0, tzinfo=KOLKATA), status=status)
    r = await client.get(
        f"/api/v1/appointments/{appointment_id}/ics", headers=await factory.headers(clinic.patient_user)
    )
    (event,) = events(r.content)
    assert event["STATUS"] == ics_status


async def rotate(client, factory: Factory, user: UserInfo, practitioner_id: uuid.UUID) -> str:  # type: ignore[no-untyped-def]
    r = await client.post(
        f"/api/v1/practitioners/{practitioner_id}/calendar-token", headers=await factory.headers(user)
    )
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith("http://testserver/calendar/") and url.endswith(".ics")
    return url.removeprefix("http://testserver")


async def test_private_feed_has_the_window_and_no_patient_names(client, factory, clinic, owner_sessionmaker):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    shown = {
        await book(owner_sessionmaker, clinic, now + timedelta(days=2)),
        await book(owner_sessionmaker, clinic, now - timedelta(days=10), status="completed"),
        await book(owner_sessionmaker, clinic, now + timedelta(days=3), status="requested", location_id=clinic.london),
    }
    hidden = {
        await book(owner_sessionmaker, clinic, now + timedelta(days=4), status="cancelled"),
        await book(owner_sessionmaker, clinic, now + timedelta(days=5), status="held"),
        await book(owner_sessionmaker, clinic, now - timedelta(days=40)),
        await book(owner_sessionmaker, clinic, now + timedelta(days=100)),
    }
    path = await rotate(client, factory, clinic.doctor, clinic.practitioner_id)
    r = await client.get(path)  # no sign-in
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    found = {uuid.UUID(str(e["UID"]).removesuffix("@carebase")) for e in events(r.content)}
    assert found == shown and not found & hidden
    for event in events(r.content):
        assert str(event["SUMMARY"]) == "Appointment: General consultation"
    text = r.content.decode()
    for secret in ("Asha", "Kumar", str(clinic.patient_id)):
        assert secret not in text
    # Only a hash of the token is stored.
    token = path.removeprefix("/calendar/").removesuffix(".ics")
    stored = await scalar(
        owner_sessionmaker, "SELECT calendar_token FROM practitioners WHERE id = :p", p=clinic.practitioner_id
    )
    assert stored != token and len(stored) == 64


async def test_rotating_the_token_invalidates_the_old_url(client, factory, clinic, owner_sessionmaker):
    admin = await factory.user(clinic.tenant, "hospital_admin")
    first = await rotate(client, factory, clinic.doctor, clinic.practitioner_id)
    assert (await client.get(first)).status_code == 200
    second = await rotate(client, factory, admin, clinic.practitioner_id)  # admins may rotate any
    assert second != first
    assert_problem(await client.get(first), 404)
    assert (await client.get(second)).status_code == 200
    actions = [e["action"] for e in await audit_actions(owner_sessionmaker, clinic.tenant.id)]
    assert "scheduling.calendar_token.created" in actions and "scheduling.calendar_token.rotated" in actions
    for bogus in ("/calendar/nope.ics", f"/calendar/{'x' * 43}.ics", "/calendar/" + "a" * 300 + ".ics"):
        assert_problem(await client.get(bogus), 404)
    # A doctor cannot rotate a colleague's feed; an inactive practitioner's feed is gone.
    colleague, _ = await practitioner(factory, clinic.tenant)
    r = await client.post(
        f"/api/v1/practitioners/{clinic.practitioner_id}/calendar-token", headers=await factory.headers(colleague)
    )
    assert_problem(r, 403)
    async with owner_sessionmaker() as s, s.begin():
        from sqlalchemy import text

        await s.execute(text("UPDATE practitioners SET is_active = false WHERE id = :p"), {"p": clinic.practitioner_id})
    assert_problem(await client.get(second), 404)


def test_long_and_special_text_is_escaped_and_folded():
    item = SimpleNamespace(
        id=uuid.uuid4(), starts_at=datetime(2027, 1, 1, 4, 30, tzinfo=UTC), ends_at=datetime(2027, 1, 1, 5, tzinfo=UTC),
        status="confirmed", version=2,
    )  # fmt: skip
    name = "Dr. Zoë Ångström; MD, FRCP \\ " + "très long " * 20
    body = appointment_ics(item, name, "Ward 3, Block B; Pune\nIndia", "Check-up", "Asia/Kolkata")
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    body.decode()  # no UTF-8 character was split
    (event,) = events(body)
    assert str(event["SUMMARY"]) == f"Check-up with {name}"
    assert str(event["LOCATION"]) == "Ward 3, Block B; Pune\nIndia"
    assert event["SEQUENCE"] == 2
    assert fold("x" * 75) == b"x" * 75 + b"\r\n"
    assert events(practitioner_feed_ics("Dr. Empty", [])) == []
