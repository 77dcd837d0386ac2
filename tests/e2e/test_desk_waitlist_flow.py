"""In a real browser: the receptionist opens the waitlist from the board, finds a patient, picks a
doctor (htmx swaps in that doctor's services), adds them and sees the row; the doctor makes their
private calendar feed link and copies it. Screenshots: test-artifacts/screenshots/69-desk-waitlist-add-form.png,
70-desk-waitlist.png,
71-schedule-calendar-feed.png (the whole page) and 72-calendar-feed-panel.png (the panel)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from carebase.directory.models import Practitioner, Service
from carebase.scheduling.models import WaitlistEntry
from tests.e2e.browser import csp_violations, staff_login, watch_csp
from tests.factories import Factory
from tests.scheduling.bookable import book_directly, make_bookable

pytestmark = pytest.mark.browser


async def test_receptionist_adds_a_patient_to_the_waitlist(desk, factory: Factory, owner_sessionmaker,
                                                           shot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    b = await make_bookable(factory, owner_sessionmaker)
    other = await make_bookable(factory, owner_sessionmaker, tenant=b.tenant, duration=30)
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(update(Practitioner).where(Practitioner.id == b.practitioner_id)
                        .values(display_name="Dr. Anita Rao"))  # fmt: skip
        await s.execute(update(Practitioner).where(Practitioner.id == other.practitioner_id)
                        .values(display_name="Dr. Vikram Mehta"))  # fmt: skip
        await s.execute(update(Service).where(Service.id == other.service_id).values(name="Follow-up visit"))
    await factory.patient(b.tenant, given="Meera", family="Iyer")
    sunil = await factory.patient(b.tenant, given="Sunil", family="Iyer")
    receptionist = await factory.user(b.tenant, "receptionist")
    # Someone already offered a time (what the waitlist does when a booking is cancelled).
    starts = (datetime.now(UTC) + timedelta(days=1)).replace(hour=5, minute=30, second=0, microsecond=0)
    expires = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=30)
    hold = await book_directly(owner_sessionmaker, b, sunil, starts, booked_by=receptionist.id, status="held",
                               hold_expires_at=expires, source="waitlist")  # fmt: skip
    async with owner_sessionmaker() as s, s.begin():
        s.add(WaitlistEntry(
            tenant_id=b.tenant.id, patient_id=sunil, practitioner_id=b.practitioner_id, service_id=b.service_id,
            requested_by_user_id=receptionist.id, earliest_date=starts.date(),
            latest_date=starts.date() + timedelta(days=5), status="offered", offered_appointment_id=hold,
            offer_expires_at=expires,
        ))  # fmt: skip
    await watch_csp(desk)
    page = await desk.new_page()
    await staff_login(page, receptionist)
    await page.goto("/desk")
    await page.get_by_role("link", name="Waitlist").click()
    await page.wait_for_url("**/desk/waitlist")
    await page.locator("tbody tr", has_text="Sunil Iyer").get_by_text("to accept by").wait_for()

    await page.get_by_label("Find the patient").fill("Meera Iyer")
    await page.get_by_role("button", name="Find").click()
    await page.locator("li", has_text="Iyer, Meera").get_by_role("link", name="Choose").click()
    form = page.locator("#add")
    await form.get_by_text("Meera Iyer").wait_for()
    await form.get_by_label("Doctor").select_option(label="Dr. Vikram Mehta")
    await form.get_by_label("Service").locator("option", has_text="Follow-up visit · 30 min").wait_for(state="attached")
    await shot(page, "69-desk-waitlist-add-form")
    await form.get_by_role("button", name="Add to the waitlist").click()
    await page.wait_for_url(re.compile(r".*/desk/waitlist\?added="))

    row = page.locator("tbody tr", has_text="Meera Iyer")
    await row.wait_for()
    assert "Dr. Vikram Mehta" in await row.inner_text() and "Follow-up visit" in await row.inner_text()
    assert "Waiting" in await row.inner_text()
    await page.get_by_text("Meera Iyer is on the waitlist for Dr. Vikram Mehta.").wait_for()
    await page.evaluate("window.scrollTo(0, 0)")
    await shot(page, "70-desk-waitlist")
    assert await csp_violations(page) == []


async def test_doctor_makes_and_copies_the_calendar_feed_link(desk, live_server, factory: Factory, owner_sessionmaker,
                                                              shot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    b = await make_bookable(factory, owner_sessionmaker)
    await desk.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    await watch_csp(desk)
    page = await desk.new_page()
    await staff_login(page, b.doctor)
    await page.goto("/schedule")
    panel = page.locator("#calendar-feed")
    await panel.get_by_text("No link yet").wait_for()
    await panel.get_by_role("button", name="Create link").click()
    url = (await panel.locator("#feed-url").inner_text(timeout=10_000)).strip()
    assert re.fullmatch(r"https?://[^/]+/calendar/[A-Za-z0-9_-]+\.ics", url), url
    await panel.get_by_role("button", name="Copy link").click()
    await panel.get_by_role("button", name="Copied").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == url
    await page.evaluate("window.scrollTo(0, 0)")  # the sticky header stays on top, not over the panel
    path = await shot(page, "71-schedule-calendar-feed")
    box = await panel.bounding_box()
    assert box
    await page.screenshot(path=str(path.with_name("72-calendar-feed-panel.png")), full_page=True, clip=box)

    page.once("dialog", lambda dialog: dialog.accept())  # "Make a new link?"
    await panel.get_by_role("button", name="Rotate link").click()
    await page.locator("#calendar-feed #feed-url").filter(has_not_text=url).wait_for()
    new = (await page.locator("#feed-url").inner_text()).strip()
    assert new != url
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        old_path, new_path = "/calendar/" + url.split("/calendar/", 1)[1], "/calendar/" + new.split("/calendar/", 1)[1]
        assert (await http.get(old_path)).status_code == 404
        assert (await http.get(new_path)).status_code == 200
    assert await csp_violations(page) == []
