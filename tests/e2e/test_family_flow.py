"""Family members in a real browser, on a phone: a patient signs in with a code, adds a child (after a
refused first try that keeps what was typed), sees them listed, and the booking review offers them as
"who is the visit for". Then removes them. No CSP violations, no sideways scroll.
Screenshots go to test-artifacts/screenshots/ (8x-)."""

from __future__ import annotations

from datetime import time

import pytest
from playwright.async_api import expect

from tests.e2e.browser import csp_violations, patient_code_login, watch_csp
from tests.factories import Factory
from tests.scheduling.bookable import make_bookable
from tests.web.booking_helpers import patient_user, publish

pytestmark = pytest.mark.browser

WIDTH = 390


async def _no_sideways_scroll(page) -> None:  # type: ignore[no-untyped-def]
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= WIDTH, f"{page.url} scrolls sideways ({scroll}px > {WIDTH}px)"


async def test_patient_adds_a_family_member_and_books_for_them(phone, factory: Factory, owner_sessionmaker, mailbox,
                                                               shot):  # fmt: skip
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    doctor = f"Dr. Nisha Varma {b.tenant.slug[-4:]}"
    await publish(owner_sessionmaker, b, doctor)
    user, _ = await patient_user(factory, b.tenant, given="Asha", family="Kumar")
    await watch_csp(phone)
    page = await phone.new_page()

    # Signed out: the family page sends the patient to the code sign-in and back.
    await page.goto("/my/family")
    await page.wait_for_url("**/patient-login?next=**")
    await patient_code_login(page, mailbox, user)
    await page.get_by_role("heading", name="Family members", exact=True).wait_for()
    await page.get_by_text("No family members yet").wait_for()
    await shot(page, "80-family-empty-phone")
    await _no_sideways_scroll(page)

    # A first try without the consent note: refused next to the field, what was typed kept.
    await page.get_by_label("First name").fill("Meera")
    await page.get_by_label("Last name").fill("Kumar")
    await page.get_by_label("Date of birth").fill("2019-05-04")
    await page.get_by_label("Sex").select_option("female")
    await page.get_by_label("Who are they to you?").select_option("child")
    await page.get_by_role("button", name="Add family member").click()
    await page.locator("#f-consent_note-error").wait_for()
    await expect(page.get_by_label("How you may act for them")).to_be_focused()  # the error is in view
    assert await page.get_by_label("First name").input_value() == "Meera"
    assert await page.get_by_label("Who are they to you?").input_value() == "child"
    await shot(page, "81-family-error-phone")
    await page.get_by_label("How you may act for them").fill("I am her mother")
    await page.get_by_role("button", name="Add family member").click()
    await page.get_by_text("Your family member is added.").first.wait_for()
    member = page.locator(".appt-list > li", has_text="Meera Kumar")
    await expect(member).to_have_count(1)
    await expect(member.get_by_text("Child", exact=True)).to_be_visible()
    await page.evaluate("window.scrollTo(0, 0)")
    await shot(page, "82-family-listed-phone")
    await _no_sideways_scroll(page)

    # The booking review offers her as "who is the visit for".
    await page.goto(f"/doctors/{b.practitioner_id}")
    await page.get_by_role("heading", name=doctor).wait_for()
    await page.locator("button.slot").first.click()
    await page.get_by_role("heading", name="Book this time").wait_for()
    who = page.get_by_label("Who is the visit for?")
    await expect(who.locator("option", has_text="Meera Kumar (child)")).to_have_count(1)
    await who.select_option(label="Meera Kumar (child)")
    await shot(page, "83-family-booking-review-phone")

    # And removes her again.
    await page.get_by_role("link", name="Family", exact=True).click()
    await page.get_by_role("heading", name="Family members", exact=True).wait_for()
    await member.get_by_text("Remove…").click()
    await member.get_by_role("button", name="Remove Meera from my account").click()
    await page.get_by_text("They are removed from your account.").first.wait_for()
    await expect(page.locator(".appt-list > li")).to_have_count(0)
    assert await csp_violations(page) == []
