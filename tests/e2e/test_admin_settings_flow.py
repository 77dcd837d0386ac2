"""A hospital admin changes how far ahead bookings open on the organisation settings page, in a real browser at a
desk: Settings from the navigation, a wrong value refused next to its field, then saved with the one-time message;
no CSP violations. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.api.helpers import scalar
from tests.e2e.browser import csp_violations, staff_login_mfa, watch_csp
from tests.factories import Factory

pytestmark = pytest.mark.browser


async def test_admin_changes_the_booking_horizon(desk, factory: Factory, owner_sessionmaker, shot):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin", mfa=True)
    await watch_csp(desk)
    page = await desk.new_page()
    await staff_login_mfa(page, admin)
    await page.get_by_role("navigation").get_by_role("link", name="Settings").click()
    await page.wait_for_url("**/admin/settings")
    await page.get_by_role("heading", name="Settings", exact=True).wait_for()
    horizon = page.get_by_label("Bookings open (days ahead)")
    await expect(horizon).to_have_value("180")
    await shot(page, "100-admin-settings")
    # Out of range: refused next to the field, what was typed kept, nothing saved.
    await horizon.fill("900")
    await page.get_by_role("button", name="Save settings").click()
    await page.locator("#f-booking_horizon_days-error").wait_for()
    await expect(page.get_by_label("Bookings open (days ahead)")).to_have_value("900")
    await shot(page, "101-admin-settings-error")
    await page.get_by_label("Bookings open (days ahead)").fill("90")
    await page.get_by_role("button", name="Save settings").click()
    await page.get_by_text("The settings are saved.").wait_for()
    await expect(page.get_by_label("Bookings open (days ahead)")).to_have_value("90")
    await expect(page.locator("#f-booking_horizon_days-error")).to_have_count(0)
    await shot(page, "102-admin-settings-saved")
    assert await scalar(owner_sessionmaker, "SELECT settings->>'booking_horizon_days' FROM organizations WHERE id = :t",
                        t=tenant.id) == "90"  # fmt: skip
    assert await csp_violations(page) == []
