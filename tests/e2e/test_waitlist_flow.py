"""The patient waitlist in a real browser, on a phone: a doctor's only working day this week is fully
booked, so the patient signs in by code from the doctor's page and joins the waitlist for that day;
the front desk cancels one of the visits, which offers the time to the patient (a hold in their name
with a 30-minute deadline); the patient sees the held time under My appointments and the offer with
its deadline on their waitlist, confirms it and finds the visit under My appointments.
Screenshots (test-artifacts/screenshots/): 90-waitlist-doctor-full-phone, 91-waitlist-join-form-phone,
92-waitlist-joined-phone, 93-waitlist-desk-cancelled (desktop), 94-waitlist-offer-appointments-phone,
95-waitlist-offer-phone, 96-waitlist-offer-confirm-phone, 97-waitlist-booked-phone,
98-waitlist-my-appointments-phone, 99-waitlist-after-booking-phone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from carebase.scheduling.models import Appointment, WaitlistEntry
from tests.e2e.browser import csp_violations, patient_code_login, staff_login, watch_csp
from tests.factories import Factory
from tests.scheduling.bookable import book_directly, make_bookable
from tests.web.booking_helpers import patient_user, publish

pytestmark = pytest.mark.browser

TZ = "Asia/Kolkata"
WIDTH = 390


async def _no_sideways_scroll(page) -> None:  # type: ignore[no-untyped-def]
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= WIDTH, f"{page.url} scrolls sideways ({scroll}px > {WIDTH}px)"


async def test_patient_joins_the_waitlist_gets_an_offer_and_confirms_it(
    phone, desk, factory: Factory, owner_sessionmaker, mailbox, shot
) -> None:  # type: ignore[no-untyped-def]
    zone = ZoneInfo(TZ)
    day = datetime.now(zone).date() + timedelta(days=3)  # well past the booking notice, inside the first week
    # One working day a week (the only one in the week the doctor's page shows first): 10:00-11:00, 15-min slots.
    b = await make_bookable(factory, owner_sessionmaker, tz=TZ, start=time(10, 0), end=time(11, 0),
                            weekdays=range(day.weekday(), day.weekday() + 1))  # fmt: skip
    other = await factory.patient(b.tenant, given="Ravi", family="Shah")
    starts = [datetime.combine(day, time(10, 15 * i), zone).astimezone(UTC) for i in range(4)]
    booked = [await book_directly(owner_sessionmaker, b, other, t, source="patient", reason="Check-up") for t in starts]
    freed_id = booked[1]  # the 10:15 visit is the one the clinic cancels
    name = f"Dr. Leela Varma {b.tenant.slug[-4:]}"
    await publish(owner_sessionmaker, b, name)
    user, patient_id = await patient_user(factory, b.tenant, given="Asha", family="Kumar")
    receptionist = await factory.user(b.tenant, "receptionist")

    await watch_csp(phone)
    page = await phone.new_page()

    # The doctor's page: no free time this week, so the waitlist card asks the visitor to sign in.
    await page.goto(f"/doctors/{b.practitioner_id}")
    await page.get_by_role("heading", name=name).wait_for()
    await page.locator("#waitlist").wait_for()
    assert await page.locator("button.slot").count() == 0
    await page.get_by_role("link", name="Sign in to join the waitlist").click()

    # Sign in by code, and back to the doctor's page.
    await page.wait_for_url("**/patient-login?next=**")
    await patient_code_login(page, mailbox, user)
    await page.wait_for_url(f"**/doctors/{b.practitioner_id}")
    await page.get_by_role("heading", name=name).wait_for()
    await shot(page, "90-waitlist-doctor-full-phone")
    await _no_sideways_scroll(page)

    # Join the waitlist for the booked day (and the two after it) through the form on the doctor's page.
    card = page.locator("#waitlist")
    await card.get_by_role("button", name="Join the waitlist").wait_for()
    await card.get_by_label("From").fill(day.isoformat())
    await card.get_by_label("Until").fill((day + timedelta(days=2)).isoformat())
    await page.evaluate("window.scrollTo(0, 0)")  # the sticky header stays on top in the full-page shot
    await shot(page, "91-waitlist-join-form-phone")
    await _no_sideways_scroll(page)
    await card.get_by_role("button", name="Join the waitlist").click()
    await page.wait_for_url("**/my/waitlist")
    await page.get_by_role("heading", name="Waitlist", exact=True).wait_for()
    await page.get_by_text("You are on the waitlist.").first.wait_for()
    entry_card = page.locator(".card", has_text=name)
    await entry_card.get_by_text("Waiting", exact=True).wait_for()
    await shot(page, "92-waitlist-joined-phone")
    await _no_sideways_scroll(page)
    async with owner_sessionmaker() as s:
        entry = (await s.execute(select(WaitlistEntry).where(WaitlistEntry.patient_id == patient_id))).scalar_one()
        assert (entry.status, entry.earliest_date, entry.latest_date) == ("waiting", day, day + timedelta(days=2))
        assert (entry.practitioner_id, entry.service_id) == (b.practitioner_id, b.service_id)

    # The front desk cancels the 10:15 visit on that day's board.
    staff = await desk.new_page()
    await watch_csp(desk)
    await staff_login(staff, receptionist)
    await staff.goto(f"/desk?date={day.isoformat()}&location={b.location_id}")
    visit = staff.locator(f"#appt-{freed_id}")
    await visit.get_by_text("Ravi Shah").wait_for()
    await visit.get_by_text("Cancel…").click()
    await visit.get_by_label("Reason").fill("Patient called to cancel")
    await visit.get_by_role("button", name="Cancel appointment").click()
    await staff.locator(f"#appt-{freed_id}").get_by_text("Cancelled.").wait_for()
    # On the refreshed board the freed time shows as offered to the waiting patient, until when.
    await staff.reload()
    offered_card = staff.locator("article.appt", has_text="Asha Kumar")
    await offered_card.get_by_text("Offered", exact=True).wait_for()
    await offered_card.get_by_text("from the waitlist, theirs if they confirm by").wait_for()
    await shot(staff, "93-waitlist-desk-cancelled")
    assert await csp_violations(staff) == []

    # The freed time is held for the patient, with a deadline.
    async with owner_sessionmaker() as s:
        entry = (await s.execute(select(WaitlistEntry).where(WaitlistEntry.id == entry.id))).scalar_one()
        assert entry.status == "offered" and entry.offered_appointment_id and entry.offer_expires_at
        hold = (await s.execute(select(Appointment).where(Appointment.id == entry.offered_appointment_id))).scalar_one()
        assert (hold.status, hold.patient_id, hold.starts_at, hold.source) == ("held", patient_id, starts[1],
                                                                               "waitlist")  # fmt: skip
        assert hold.hold_expires_at == entry.offer_expires_at
        left = entry.offer_expires_at - datetime.now(UTC)
        assert timedelta(minutes=25) < left <= timedelta(minutes=30)
        freed = (await s.execute(select(Appointment).where(Appointment.id == freed_id))).scalar_one()
        assert freed.status == "cancelled"
    deadline = entry.offer_expires_at.astimezone(zone).strftime("%H:%M")
    deadline_day = entry.offer_expires_at.astimezone(zone).strftime("%a %d %b, %H:%M")  # the offer is today

    # The patient reloads My appointments: the offered time is there as a hold to confirm.
    await page.get_by_role("link", name="My appointments").first.click()
    await page.get_by_role("heading", name="My appointments").wait_for()
    held = page.locator(f"#appt-{hold.id}")
    await held.get_by_text("Held", exact=True).wait_for()
    assert "10:15" in await held.inner_text()
    await held.get_by_text(f"Held for you until {deadline_day} (a time from the waitlist)").wait_for()
    await held.get_by_role("link", name="Confirm").wait_for()
    await shot(page, "94-waitlist-offer-appointments-phone")
    await _no_sideways_scroll(page)

    # And their waitlist: the offer, its time and deadline.
    await page.get_by_role("link", name="Waitlist").first.click()
    await page.wait_for_url("**/my/waitlist")
    entry_card = page.locator(".card", has_text=name)
    await entry_card.get_by_text("Time offered", exact=True).wait_for()
    when = datetime.combine(day, time(10, 15)).strftime("%A %d %B, %H:%M")
    await entry_card.get_by_text(f"{when} is yours if you confirm by {deadline_day}").wait_for()
    await shot(page, "95-waitlist-offer-phone")
    await _no_sideways_scroll(page)
    await entry_card.get_by_role("link", name="Confirm this time").click()

    await page.wait_for_url(f"**/book/{hold.id}")
    await page.get_by_role("heading", name="Confirm your booking").wait_for()
    await page.get_by_text(when).first.wait_for()
    await page.get_by_text(f"Held for you until {deadline}").wait_for()
    countdown = (await page.locator("[data-countdown]").inner_text()).strip()
    assert countdown.split(":")[0] in ("25", "26", "27", "28", "29", "30"), countdown
    await shot(page, "96-waitlist-offer-confirm-phone")
    await _no_sideways_scroll(page)
    await page.get_by_role("button", name="Confirm booking").click()
    await page.get_by_role("heading", name="You are booked").wait_for()
    await shot(page, "97-waitlist-booked-phone")
    await _no_sideways_scroll(page)

    async with owner_sessionmaker() as s:
        mine = (await s.execute(select(Appointment).where(Appointment.patient_id == patient_id))).scalars().all()
        assert [(a.id, a.status, a.starts_at, a.practitioner_id) for a in mine] == [
            (hold.id, "confirmed", starts[1], b.practitioner_id)
        ]

    await page.get_by_role("link", name="My appointments").first.click()
    await page.get_by_role("heading", name="My appointments").wait_for()
    visit_card = page.locator(".appt-list > li", has_text=name)
    await visit_card.wait_for()
    assert await visit_card.count() == 1
    assert "10:15" in await visit_card.inner_text()
    await shot(page, "98-waitlist-my-appointments-phone")
    await _no_sideways_scroll(page)

    # Confirming the offer closed the waitlist entry at once: nothing is left to wait for or to confirm.
    await page.goto("/my/waitlist")
    await page.get_by_role("heading", name="Waitlist", exact=True).wait_for()
    await page.get_by_text("You are not waiting for any doctor").wait_for()
    assert await page.locator(".card", has_text=name).count() == 0
    await shot(page, "99-waitlist-after-booking-phone")
    await _no_sideways_scroll(page)
    assert await csp_violations(page) == []
