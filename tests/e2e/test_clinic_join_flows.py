"""Booking at any clinic of the marketplace, on a phone: a patient of one clinic registers with another
from the booking review and books there; someone new registers from the sign-in page with a code and
books. Screenshots 70-79 in test-artifacts/screenshots/."""

from __future__ import annotations

import uuid
from datetime import time

import pytest

from tests.e2e.browser import csp_violations, patient_code_login, watch_csp
from tests.factories import Factory
from tests.scheduling.bookable import Bookable, make_bookable
from tests.web.booking_helpers import patient_user, publish

pytestmark = pytest.mark.browser
WIDTH = 390


async def _listed(factory: Factory, owner, name: str) -> Bookable:  # type: ignore[no-untyped-def]
    b = await make_bookable(factory, owner, start=time(8, 0), end=time(18, 0))
    await publish(owner, b, name)
    return b


async def _no_sideways_scroll(page) -> None:  # type: ignore[no-untyped-def]
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= WIDTH, f"{page.url} scrolls sideways ({scroll}px > {WIDTH}px)"


async def _pick_a_time(page, b: Bookable, name: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(f"/doctors/{b.practitioner_id}")
    await page.get_by_role("heading", name=name).wait_for()
    await page.get_by_role("link", name="Later week").click()
    await page.locator("button.slot").first.click()


async def _hold_and_confirm(page) -> None:  # type: ignore[no-untyped-def]
    await page.get_by_role("button", name="Hold this time").click()
    await page.get_by_role("button", name="Confirm booking").click()
    await page.get_by_role("heading", name="You are booked").wait_for()


async def test_a_patient_of_one_clinic_books_at_another_on_a_phone(phone, factory, owner_sessionmaker, mailbox, shot):
    name = f"Dr. Nisha Rao {uuid.uuid4().hex[:4]}"
    x = await _listed(factory, owner_sessionmaker, name)
    home = await factory.tenant(kind="clinic")
    user, _ = await patient_user(factory, home, given="Asha", family="Kumar")
    await watch_csp(phone)
    page = await phone.new_page()

    await page.goto("/patient-login")
    await patient_code_login(page, mailbox, user)
    await page.wait_for_url(lambda url: "/patient-login" not in url)

    await _pick_a_time(page, x, name)
    await page.get_by_role("heading", name=f"Register with {x.tenant.name}").wait_for()
    assert await page.get_by_label("First name").input_value() == "Asha"  # prefilled from the patient's own record
    await shot(page, "70-join-review-phone")
    await _no_sideways_scroll(page)

    # A mistake first: the form comes back with the message next to the field and the rest kept.
    await page.get_by_label("Last name").fill("")
    await page.get_by_role("button", name="Register and continue").click()
    await page.locator("#f-family_name-error").wait_for()
    assert await page.get_by_label("First name").input_value() == "Asha"
    await shot(page, "71-join-error-phone")
    await page.get_by_label("Last name").fill("Kumar-Rao")
    await page.get_by_role("button", name="Register and continue").click()

    await page.get_by_role("heading", name="Book this time").wait_for()
    await page.get_by_role("button", name="Hold this time").wait_for()
    assert "Asha Kumar-Rao" in await page.get_by_label("Who is the visit for?").inner_text()
    await shot(page, "72-join-review-there-phone")
    await _no_sideways_scroll(page)
    await _hold_and_confirm(page)
    await shot(page, "73-join-booked-phone")
    assert await csp_violations(page) == []


async def test_someone_new_registers_and_books_on_a_phone(phone, factory, owner_sessionmaker, mailbox, shot):
    name = f"Dr. Farah Ali {uuid.uuid4().hex[:4]}"
    x = await _listed(factory, owner_sessionmaker, name)
    email = f"new-{uuid.uuid4().hex[:8]}@patients.example"
    await watch_csp(phone)
    page = await phone.new_page()

    await _pick_a_time(page, x, name)
    await page.wait_for_url("**/patient-login?next=**")
    await shot(page, "74-register-offer-phone")
    await page.get_by_role("link", name="Register with this clinic").click()
    await page.get_by_role("heading", name=f"Register with {x.tenant.name}").wait_for()
    await page.get_by_label("Mobile number or email").fill("12345")
    await page.get_by_role("button", name="Send me a code").click()
    await page.locator("#f-destination-error").wait_for()
    await shot(page, "75-register-contact-error-phone")
    await _no_sideways_scroll(page)
    await page.get_by_label("Mobile number or email").fill(email)
    await page.get_by_role("button", name="Send me a code").click()

    await page.get_by_role("heading", name="Your details").wait_for()
    code = mailbox.code(await mailbox.wait_for(email))
    await page.get_by_label("6-digit code").fill(code)
    await page.get_by_label("First name").fill("Ravi")
    await page.get_by_role("button", name="Register and continue").click()  # no last name, no birth date
    await page.locator("#f-family_name-error").wait_for()
    await page.locator("#f-birth_date-error").wait_for()
    await shot(page, "76-register-errors-phone")
    await page.get_by_label("6-digit code").fill(code)
    await page.get_by_label("Last name").fill("Shah")
    await page.get_by_label("Date of birth").fill("1985-11-02")
    await page.get_by_label("Sex").select_option("male")
    await shot(page, "77-register-details-phone")
    await _no_sideways_scroll(page)
    await page.get_by_role("button", name="Register and continue").click()

    await page.get_by_role("heading", name="Book this time").wait_for()
    assert "Ravi Shah" in await page.get_by_label("Who is the visit for?").inner_text()
    await shot(page, "78-register-review-phone")
    await _hold_and_confirm(page)
    await shot(page, "79-register-booked-phone")
    assert await csp_violations(page) == []
