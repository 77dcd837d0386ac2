"""Live updates in a real browser: two front-desk screens on the same board; one checks a patient in,
the other sees the status chip change without a reload (through the outbox, the worker, the bus and
/ws). Screenshot: test-artifacts/screenshots/60-live-board.png."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest

from carebase.core.worker import run_worker
from tests.e2e.browser import staff_login, watch_csp
from tests.factories import Factory
from tests.scheduling.bookable import book_directly, make_bookable

pytestmark = pytest.mark.browser


async def test_a_check_in_on_one_screen_shows_on_another_without_reload(
    desk, browser, live_server, factory: Factory, owner_sessionmaker, database_url, shot
) -> None:  # type: ignore[no-untyped-def]
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    patient_id = await factory.patient(b.tenant, given="Lata", family="Menon")
    starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
    await book_directly(owner_sessionmaker, b, patient_id, starts)
    front, back = await factory.user(b.tenant, "receptionist"), await factory.user(b.tenant, "nurse")
    other = await browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    stop = asyncio.Event()
    # Only this test's kind of event (the suite leaves a backlog of others behind), no cron.
    worker = asyncio.create_task(run_worker(database_url, stop, topics=["appointment.checked_in"], cron_enabled=False))
    try:
        await watch_csp(desk)
        await watch_csp(other)
        pages = []
        for context, user in ((desk, front), (other, back)):
            page = await context.new_page()
            await staff_login(page, user)
            await page.goto(f"/desk?location={b.location_id}")
            await page.locator("html[data-live='connected']").wait_for()
            pages.append(page)
        acting, watching = pages
        await watching.evaluate("window.__notReloaded = true")
        watched = watching.locator("article.appt", has_text="Lata Menon")
        await watched.get_by_text("Confirmed", exact=True).wait_for()
        await asyncio.sleep(0.3)  # the watcher's subscription is acknowledged right after "ready"

        await acting.locator("article.appt", has_text="Lata Menon").get_by_role("button", name="Check in").click()
        await watched.get_by_text("Checked in", exact=True).wait_for(timeout=10_000)
        assert await watching.evaluate("window.__notReloaded === true")
        assert "1" in await watching.locator("#desk-summary").inner_text()
        await shot(watching, "60-live-board")
        for page in pages:
            assert await page.evaluate("window.__cspViolations") == []
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=15)
        await other.close()
