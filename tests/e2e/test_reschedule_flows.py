"""Rescheduling in a real browser: a patient moves a visit from "My appointments" on a phone, and the
front desk moves a patient's visit from the board. The old booking stands until the new time is taken,
then it is marked rescheduled and points at the new one. Screenshots: test-artifacts/screenshots/ (47-, 52-)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from carebase.core.db import set_context
from carebase.directory.models import Practitioner
from carebase.scheduling.models import Appointment
from tests.e2e.browser import patient_code_login, staff_login, watch_csp
from tests.factories import Factory
from tests.scheduling.bookable import Bookable, book_directly, make_bookable
from tests.web.booking_helpers import patient_user

pytestmark = pytest.mark.browser


async def _both(owner, b: Bookable, old_id: uuid.UUID) -> tuple[Appointment, Appointment]:  # type: ignore[no-untyped-def]
    async with owner() as s:
        await set_context(s, tenant_id=b.tenant.id)
        old = (await s.execute(select(Appointment).where(Appointment.id == old_id))).scalar_one()
        assert old.rescheduled_to_id is not None, f"the old booking is {old.status}, not moved"
        new = (await s.execute(select(Appointment).where(Appointment.id == old.rescheduled_to_id))).scalar_one()
        return old, new


def _local(day: date, at: time, tz: str = "Asia/Kolkata") -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(tz)).astimezone(UTC)


async def test_patient_moves_a_visit_on_a_phone(phone, factory: Factory, owner_sessionmaker, mailbox, shot):
    b = await make_bookable(factory, owner_sessionmaker, start=time(9, 0), end=time(17, 0))
    user, patient_id = await patient_user(factory, b.tenant, given="Nisha", family="Rao")
    when = _local(datetime.now(UTC).date() + timedelta(days=4), time(10, 0))
    old_id = await book_directly(owner_sessionmaker, b, patient_id, when, booked_by=user.id, source="patient",
                                 reason="Check-up")  # fmt: skip
    await watch_csp(phone)
    page = await phone.new_page()

    await page.goto("/patient-login?next=/my/appointments")
    await patient_code_login(page, mailbox, user)
    await page.get_by_role("heading", name="My appointments").wait_for()

    await page.locator(f"#appt-{old_id}").get_by_role("link", name="Reschedule").click()
    await page.get_by_role("heading", name="Move your visit").wait_for()
    await page.get_by_role("link", name="Later week").click()  # well clear of the cancellation cutoff
    await page.locator("button.slot").first.wait_for()
    await shot(page, "47-patient-reschedule-phone")
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= 390, f"the reschedule page scrolls sideways ({scroll}px)"
    await page.locator("button.slot").first.click()
    await page.get_by_text("The appointment is moved to the new time.").first.wait_for()
    await shot(page, "48-patient-rescheduled-phone")

    old, new = await _both(owner_sessionmaker, b, old_id)
    assert old.status == "rescheduled" and new.status == "confirmed"
    assert new.starts_at != when and new.patient_id == patient_id
    new_card = page.locator(f"#appt-{new.id}")
    await new_card.wait_for()
    local = new.starts_at.astimezone(ZoneInfo("Asia/Kolkata"))
    await new_card.get_by_text(local.strftime("%a %d %b, %H:%M")).wait_for()
    assert await page.locator(f"#appt-{old_id}").count() == 0  # the old time is gone from "Upcoming"
    assert await page.evaluate("window.__cspViolations") == []


async def test_front_desk_moves_a_visit_from_the_board(desk, factory: Factory, owner_sessionmaker, shot):
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(update(Practitioner).where(Practitioner.id == b.practitioner_id)
                        .values(display_name="Dr. Farah Khan"))  # fmt: skip
    receptionist = await factory.user(b.tenant, "receptionist")
    patient_id = await factory.patient(b.tenant, given="Vikram", family="Joshi")
    now = datetime.now(UTC)
    when = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    if when.astimezone(ZoneInfo("Asia/Kolkata")).date() != now.astimezone(ZoneInfo("Asia/Kolkata")).date():
        pytest.skip("too close to local midnight for a visit later today")
    old_id = await book_directly(owner_sessionmaker, b, patient_id, when, booked_by=receptionist.id, source="patient",
                                 reason="Check-up")  # fmt: skip
    await watch_csp(desk)
    page = await desk.new_page()
    await staff_login(page, receptionist)
    await page.get_by_role("link", name="Open today's board").click()
    await page.get_by_role("heading", name="Main board").wait_for()

    card = page.locator("article.appt", has_text="Vikram Joshi")
    await card.get_by_role("link", name="Reschedule").click()
    await page.get_by_role("heading", name="Reschedule Vikram Joshi").wait_for()
    await page.locator("button.slot").first.wait_for()
    await shot(page, "52-desk-reschedule")
    picked = await page.locator("button.slot").last.get_attribute("value")
    assert picked
    await page.locator("button.slot").last.click()
    await page.get_by_text("The appointment is moved to the new time.").first.wait_for()

    old, new = await _both(owner_sessionmaker, b, old_id)
    assert old.status == "rescheduled" and new.status == "confirmed" and new.patient_id == patient_id
    assert new.starts_at == datetime.fromisoformat(picked.split("|", 1)[0])  # the time the desk picked
    assert await page.evaluate("window.__cspViolations") == []
