"""Booking in a real browser: a patient finds a doctor, holds, confirms and cancels (on a phone and
on a desktop); the front desk books a walk-in, checks them in and marks a no-show; a doctor edits
the weekly template (and sees the overlap error), adds time off and approves a request.
Screenshots go to test-artifacts/screenshots/ (4x-)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import update

from carebase.scheduling.models import Appointment
from tests.e2e.browser import patient_code_login, staff_login, watch_csp
from tests.factories import Factory
from tests.scheduling.bookable import book_directly, make_bookable
from tests.web.booking_helpers import patient_user, publish

pytestmark = pytest.mark.browser


async def _no_sideways_scroll(page, width: int) -> None:  # type: ignore[no-untyped-def]
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} scrolls sideways ({scroll}px > {width}px)"


async def test_patient_finds_books_and_cancels_on_a_phone(phone, factory: Factory, owner_sessionmaker, mailbox, shot):
    await _patient_flow(phone, "phone", 390, factory, owner_sessionmaker, mailbox, shot)


async def test_patient_finds_books_and_cancels_on_a_desktop(desk, factory: Factory, owner_sessionmaker, mailbox, shot):
    await _patient_flow(desk, "desktop", 1280, factory, owner_sessionmaker, mailbox, shot)


async def _patient_flow(context, device, width, factory, owner_sessionmaker, mailbox, shot):  # type: ignore[no-untyped-def]
    b = await make_bookable(factory, owner_sessionmaker, start=time(9, 0), end=time(17, 0))
    name = f"Dr. Anaya Menon {b.tenant.slug[-4:]}"
    await publish(owner_sessionmaker, b, name)
    user, _ = await patient_user(factory, b.tenant, given="Asha", family="Kumar")
    await watch_csp(context)
    page = await context.new_page()

    await page.goto("/find?q=" + b.tenant.slug[-4:])
    await page.get_by_role("link", name=name).first.wait_for()
    await shot(page, f"40-find-{device}")
    await _no_sideways_scroll(page, width)
    await page.get_by_role("link", name=name).first.click()
    await page.get_by_role("heading", name=name).wait_for()
    await page.get_by_role("link", name="Later week").click()  # next week: well before the cancellation cutoff
    await page.locator("button.slot").first.wait_for()
    await shot(page, f"41-profile-slots-{device}")
    await _no_sideways_scroll(page, width)
    await page.locator("button.slot").first.click()

    # Not signed in yet: the code sign-in, then straight back to the picked time.
    await page.wait_for_url("**/patient-login?next=**")
    await patient_code_login(page, mailbox, user)
    await page.get_by_role("heading", name="Book this time").wait_for()
    await page.get_by_label("Reason for the visit").fill("Follow-up")
    await shot(page, f"42-review-{device}")
    await page.get_by_role("button", name="Hold this time").click()
    await page.get_by_role("heading", name="Confirm your booking").wait_for()
    countdown = page.locator("[data-countdown]")
    assert re.fullmatch(r"[0-5]:\d\d", (await countdown.inner_text()).strip())
    await shot(page, f"43-hold-{device}")
    await page.get_by_role("button", name="Confirm booking").click()
    await page.get_by_role("heading", name="You are booked").wait_for()
    assert await page.get_by_role("link", name="Add to calendar").get_attribute("href")
    await shot(page, f"44-booked-{device}")

    await page.get_by_role("link", name="My appointments").first.click()
    await page.get_by_role("heading", name="My appointments").wait_for()
    await shot(page, f"45-my-appointments-{device}")
    await _no_sideways_scroll(page, width)
    card = page.locator(".appt-list > li").first
    await card.get_by_text("Cancel…").click()
    await card.get_by_label("Why are you cancelling?").fill("Feeling better")
    await card.get_by_role("button", name="Cancel this appointment").click()
    await page.get_by_text("The appointment is cancelled.").first.wait_for()
    await shot(page, f"46-cancelled-{device}")
    assert await page.evaluate("window.__cspViolations") == []


async def test_front_desk_books_a_walk_in_checks_in_and_marks_a_no_show(desk, factory: Factory, owner_sessionmaker,
                                                                          shot):  # fmt: skip
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    second = await make_bookable(factory, owner_sessionmaker, b.tenant, start=time(0, 0), end=time(23, 45))
    async with owner_sessionmaker() as s, s.begin():
        from carebase.directory.models import Practitioner

        await s.execute(update(Practitioner).where(Practitioner.id == b.practitioner_id)
                        .values(display_name="Dr. Kavya Iyer"))  # fmt: skip
        await s.execute(update(Practitioner).where(Practitioner.id == second.practitioner_id)
                        .values(display_name="Dr. Rohan Shah"))  # fmt: skip
    receptionist = await factory.user(b.tenant, "receptionist")
    await factory.patient(b.tenant, given="Meera", family="Pillai")
    await factory.patient(b.tenant, given="Arjun", family="Nair")
    await watch_csp(desk)
    page = await desk.new_page()
    await staff_login(page, receptionist)
    await page.get_by_role("link", name="Open today's board").click()
    await page.get_by_role("heading", name="Main board").wait_for()

    async def book(family: str, doctor: str, how: str) -> None:
        await page.get_by_role("link", name="Book a patient").first.click()
        await page.get_by_label("Name, MRN, phone or email").fill(family)
        await page.get_by_role("button", name="Search").click()
        await page.get_by_role("link", name="Choose").first.click()
        await page.get_by_label("Doctor", exact=True).select_option(label=doctor)
        await page.locator("button.slot").first.wait_for()
        await page.get_by_label(how).check()
        if family == "Pillai":
            await shot(page, "50-desk-book")
        await page.locator("button.slot").first.click()
        await page.get_by_role("heading", name="Main board").wait_for()

    await book("Pillai", "Dr. Kavya Iyer", "Walk-in")
    await book("Nair", "Dr. Rohan Shah", "Phone call")
    walk_in = page.locator("article.appt", has_text="Meera Pillai")
    await walk_in.get_by_role("button", name="Check in").click()
    await walk_in.get_by_text("Checked in", exact=True).wait_for()

    # The phone booking's time passes without the patient (moved into the past as the owner).
    past = datetime.now(UTC) - timedelta(minutes=40)
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(update(Appointment).where(Appointment.practitioner_id == second.practitioner_id)
                        .values(starts_at=past, ends_at=past + timedelta(minutes=15)))  # fmt: skip
    await page.reload()
    missed = page.locator("article.appt", has_text="Arjun Nair")
    await missed.get_by_role("button", name="No-show").click()
    await missed.get_by_text("No-show", exact=True).wait_for()
    await shot(page, "51-desk-board")
    assert await page.evaluate("window.__cspViolations") == []


async def test_doctor_edits_schedule_adds_time_off_and_approves(desk, factory: Factory, owner_sessionmaker, shot):
    b = await make_bookable(factory, owner_sessionmaker, weekdays=range(0, 5), approves_bookings=True)
    patient_id = await factory.patient(b.tenant, given="Kiran", family="Das")
    starts = datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(days=3)
    await book_directly(owner_sessionmaker, b, patient_id, starts, status="requested", source="patient",
                        reason="Knee pain")  # fmt: skip
    await watch_csp(desk)
    page = await desk.new_page()
    await staff_login(page, b.doctor)
    await page.get_by_role("link", name="My schedule").first.click()
    await page.get_by_role("heading", name="My schedule").wait_for()
    add = page.locator("#add")
    await add.get_by_label("Day").select_option(label="Monday")
    await add.get_by_label("From").fill("12:00")
    await add.get_by_label("To").fill("15:00")
    await add.get_by_role("button", name="Add session").click()
    await page.get_by_text(re.compile("This session overlaps with the Mondays 09:00-13:00")).wait_for()
    await shot(page, "60-schedule-overlap")
    add = page.locator("#add")
    await add.get_by_label("Day").select_option(label="Saturday")
    await add.get_by_label("From").fill("10:00")
    await add.get_by_label("To").fill("12:00")
    await add.get_by_role("button", name="Add session").click()
    await page.get_by_text("The session is saved.").first.wait_for()
    await page.get_by_role("cell", name="10:00–12:00").wait_for()

    off = page.locator("#time-off")
    await off.get_by_label("From").fill("2030-05-01T09:00")
    await off.get_by_label("Until").fill("2030-05-03T18:00")
    await off.get_by_label("Reason").fill("Conference")
    await off.get_by_role("button", name="Add time off").click()
    await page.get_by_text("Your time off is saved.").first.wait_for()

    requests = page.locator("#requests")
    await requests.get_by_text("Knee pain").wait_for()
    await shot(page, "61-schedule")
    await requests.get_by_role("button", name="Approve").click()
    await page.get_by_text("The booking is confirmed.").first.wait_for()
    await page.goto("/schedule/week?date=" + starts.date().isoformat())
    await page.get_by_text("Kiran Das").wait_for()
    await shot(page, "62-my-week")
    await page.goto("/schedule/day?date=" + starts.date().isoformat())
    await shot(page, "63-my-day")
    assert await page.evaluate("window.__cspViolations") == []
