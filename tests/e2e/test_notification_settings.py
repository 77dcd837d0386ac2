"""The notifications page in a real browser: the bell's count and accessible name, mark read with htmx (the bell
follows), channel choices and quiet hours with an inline error; no CSP violations. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.e2e.browser import csp_violations, staff_login_mfa, watch_csp
from tests.factories import Factory
from tests.web.test_notifications_pages import _notify

pytestmark = pytest.mark.browser


async def test_notification_settings_page(desk, factory: Factory, shot):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin", mfa=True)
    await _notify(factory, tenant, admin, 3)
    await _notify(factory, tenant, admin, 1, read=True)
    await watch_csp(desk)
    page = await desk.new_page()
    await staff_login_mfa(page, admin)
    bell = page.get_by_role("link", name="Notifications, 3 unread")
    await bell.click()
    await page.wait_for_url("**/account/notifications")
    await page.get_by_role("heading", name="Notifications", exact=True).wait_for()
    await shot(page, "60-notifications-page")
    # Mark the newest read: the item loses its highlight and the bell drops to 2 without a reload.
    await page.get_by_role("button", name="Mark read").first.click()
    await page.get_by_role("link", name="Notifications, 2 unread").wait_for()
    assert await page.locator("#notification-bell [data-unread-count]").inner_text() == "2"
    # The item's own swap may land just after the bell's out-of-band one: wait for it, do not race it.
    await expect(page.locator(".inbox__item--unread")).to_have_count(2)
    # Channel choices: switch SMS reminders off.
    sms = page.locator("#pref-sms-reminder")
    await sms.uncheck()
    await page.get_by_role("button", name="Save choices").click()
    await page.get_by_text("Your notification choices are saved.").first.wait_for()
    assert not await page.locator("#pref-sms-reminder").is_checked()
    assert await page.locator("#pref-email-reminder").is_checked()
    # Quiet hours: a start without an end is refused next to the field, the start kept.
    await page.get_by_label("From (optional)").fill("22:00")
    await page.get_by_role("button", name="Save quiet hours").click()
    await page.locator("#f-quiet_end-error").wait_for()
    assert await page.get_by_label("From (optional)").input_value() == "22:00"
    await shot(page, "61-notifications-quiet-hours-error")
    await page.get_by_label("Until (optional)").fill("07:00")
    await page.get_by_role("button", name="Save quiet hours").click()
    await page.get_by_text("Your quiet hours are saved.").first.wait_for()
    # The organisation's quiet hours (hospital admin): set with the other organisation rules.
    await page.get_by_role("link", name="Open organisation settings").click()
    await page.wait_for_url("**/admin/settings#quiet-hours")
    await page.get_by_label("Hold routine messages during quiet hours").check()
    await page.locator("#f-quiet_hours_start").fill("21:00")
    await page.locator("#f-quiet_hours_end").fill("08:00")
    await page.get_by_role("button", name="Save settings").click()
    await page.get_by_text("The settings are saved.").first.wait_for()
    await page.goto("/account/notifications")
    await page.get_by_text("Your organisation's quiet hours: 21:00–08:00.").wait_for()
    await page.wait_for_timeout(300)
    await page.evaluate("window.scrollTo(0, 0)")
    await shot(page, "62-notifications-saved")
    assert await csp_violations(page) == []


async def test_notifications_page_on_a_phone(phone, factory: Factory, shot):
    tenant = await factory.tenant(kind="clinic")
    patient = await factory.user(tenant, "patient")
    await factory.patient(tenant, user=patient)
    await _notify(factory, tenant, patient, 2, category="reminder")
    await watch_csp(phone)
    page = await phone.new_page()
    await page.goto("/login")
    await page.get_by_label("Email").fill(patient.email)
    await page.get_by_label("Password").fill(patient.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/login" not in url)
    await page.goto("/account/notifications")
    await page.get_by_role("link", name="Notifications, 2 unread").wait_for()
    await shot(page, "63-notifications-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    assert await csp_violations(page) == []


async def test_desk_export_progress_and_dead_letters(desk, factory: Factory, owner_sessionmaker, database_url, shot,
                                                     client):  # fmt: skip
    import asyncpg

    from carebase.core.bootstrap import asyncpg_dsn
    from carebase.core.ids import new_id
    from carebase.core.worker import drain
    from carebase.jobs import exports  # noqa: F401  (registers the export handler)
    from tests.worker.test_scheduled import _book

    clinic, _, starts = await _book(client, factory, owner_sessionmaker)
    admin = await factory.user(clinic.tenant, "hospital_admin", mfa=True)
    await watch_csp(desk)
    page = await desk.new_page()
    await staff_login_mfa(page, admin)
    await page.goto(f"/desk?date={starts.date().isoformat()}")
    await page.get_by_role("button", name="Export appointments (CSV)").click()
    await page.locator("#export-status progress").wait_for()
    await shot(page, "64-desk-export-progress")
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    event_id = new_id()
    try:
        await drain(conn, owner_sessionmaker, topics=["job.requested"])
        # The fragment polls every second and stops with the link.
        await page.get_by_role("link", name="Download CSV").wait_for(timeout=10000)
        await shot(page, "65-desk-export-done")
        await conn.execute(
            "INSERT INTO outbox (id, tenant_id, topic, payload, status, attempts, last_error) VALUES ($1, $2,"
            " 'notification.sms', '{}', 'dead', 8, 'sms: HTTP 503 from the provider after 8 attempts')",
            event_id, clinic.tenant.id,
        )  # fmt: skip
        await page.get_by_role("link", name="Dead letters").click()
        await page.get_by_role("heading", name="Dead letters").wait_for()
        await shot(page, "66-dead-letters")
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_role("button", name="Discard notification.sms").click()
        await page.get_by_text("Discarded", exact=True).wait_for()
        await shot(page, "67-dead-letters-discarded")
    finally:
        await conn.execute("DELETE FROM outbox WHERE id = $1", event_id)
        await conn.close()
    assert await csp_violations(page) == []
