"""Browser tests: a live uvicorn server in a background thread (its own event loop, its own
``create_app`` and ``Database``) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn

from carebase.core.db import Database
from carebase.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.database_url = database_url
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server | None = None
        self.thread = threading.Thread(target=self._run, name="live-server", daemon=True)

    def _run(self) -> None:
        from carebase.app import create_app

        async def main() -> None:
            assert self.settings.database_app_password is not None
            db = Database(
                self.database_url, self.settings.database_app_role,
                self.settings.database_app_password.get_secret_value(), pool_size=5,
            )  # fmt: skip
            app = create_app(self.settings, db=db)
            config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
            self.server = uvicorn.Server(config)
            try:
                await self.server.serve()
            finally:
                await db.dispose()

        asyncio.run(main())

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.server is not None and self.server.started:
                return
            if not self.thread.is_alive():
                break
            time.sleep(0.05)
        raise RuntimeError("the live server did not start")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="session")
def live_server(settings: Settings, database_url: str, app) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    # ``app`` first: the in-process app's lifespan runs before ours, so both share one dispatcher setup.
    server = LiveServer(settings, database_url)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    if not CHROMIUM.is_file():  # noqa: ASYNC240 (one stat at session start)
        pytest.skip("Chromium is not installed at /usr/bin/chromium: browser tests need Debian's chromium package")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield instance
        await instance.close()


@pytest.fixture
def shot() -> object:
    """``await shot(page, "name")`` saves test-artifacts/screenshots/name.png (full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def take(page, name: str) -> Path:  # type: ignore[no-untyped-def]
        path = SCREENSHOTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
async def desk(browser, live_server):  # type: ignore[no-untyped-def]
    """A fresh desktop browser context (1280x800), as a member of staff at a desk."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    yield context
    await context.close()


@pytest.fixture
async def phone(browser, live_server):  # type: ignore[no-untyped-def]
    """A phone-sized context (390x844), as a patient."""
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True,
        base_url=live_server.url,
    )  # fmt: skip
    yield context
    await context.close()
