"""Test fixtures: a real PostgreSQL database migrated once per run, the app in-process, a real
SMTP server (aiosmtpd) as the email boundary, and factories that give each test its own tenants.

Database: ``CAREBASE_TEST_DATABASE_URL`` (a server we may create databases on, e.g. CI's
PostgreSQL) or, unset, the embedded PostgreSQL under a temporary folder.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

_VAR = Path(tempfile.mkdtemp(prefix="carebase-test-"))
os.environ.update(
    {
        "CAREBASE_ENV": "test",
        "CAREBASE_VAR_DIR": str(_VAR),
        "CAREBASE_SECRET_KEY": "test-secret-key-" + uuid.uuid4().hex,
        "CAREBASE_DATABASE_APP_PASSWORD": "test-app-password",
        "CAREBASE_OTP_CHANNELS": '["email"]',
        "CAREBASE_PUBLIC_BASE_URL": "http://testserver",
        "CAREBASE_LOG_LEVEL": "WARNING",
        # Cheaper Argon2 in tests only; the cost we ship is measured in bench/.
        "CAREBASE_AUTH__ARGON2_MEMORY_KIB": "8192",
        "CAREBASE_AUTH__ARGON2_TIME_COST": "1",
    }
)
os.environ.pop("CAREBASE_REDIS_URL", None)

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine  # noqa: E402

from carebase.core.db import Database, async_url  # noqa: E402
from carebase.core.ratelimit import MemoryRateLimiter  # noqa: E402
from carebase.settings import Settings, get_settings, reset_settings_cache  # noqa: E402
from tests.factories import Factory  # noqa: E402
from tests.smtp import Mailbox, start_smtp  # noqa: E402

TEST_DB = f"carebase_test_{os.getpid()}"


def _server_url() -> str:
    url = os.environ.get("CAREBASE_TEST_DATABASE_URL")
    if url:
        return url
    from carebase.core.embedded import start_embedded

    return start_embedded(_VAR)


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box, controller = start_smtp()
    os.environ["CAREBASE_SMTP__HOST"] = controller.hostname
    os.environ["CAREBASE_SMTP__PORT"] = str(controller.port)
    reset_settings_cache()
    yield box
    controller.stop()


@pytest.fixture(scope="session")
async def database_url(mailbox: Mailbox) -> AsyncIterator[str]:
    """Create a fresh database for this run, apply migrations as the owner, drop it afterwards."""
    from carebase.core import migrate
    from carebase.core.bootstrap import asyncpg_dsn, ensure_app_role

    server = async_url(_server_url())
    admin = await asyncpg.connect(asyncpg_dsn(server.render_as_string(hide_password=False)))
    await admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{TEST_DB}"')
    url = server.set(database=TEST_DB).render_as_string(hide_password=False)
    os.environ["CAREBASE_DATABASE_URL"] = url
    reset_settings_cache()
    settings = get_settings()
    assert settings.database_app_password is not None
    await ensure_app_role(url, settings.database_app_role, settings.database_app_password.get_secret_value())
    import asyncio

    await asyncio.to_thread(migrate.upgrade, url)
    yield url
    await admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    await admin.close()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
async def db(settings: Settings, database_url: str) -> AsyncIterator[Database]:
    assert settings.database_app_password is not None
    database = Database(database_url, settings.database_app_role, settings.database_app_password.get_secret_value())
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def owner_sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(async_url(database_url))
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


@pytest.fixture(scope="session")
async def app(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    from carebase.app import create_app

    application = create_app(settings, db=db)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    app.state.limiter = MemoryRateLimiter()  # every test starts with fresh rate-limit windows
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def factory(owner_sessionmaker: async_sessionmaker[AsyncSession], client: httpx.AsyncClient) -> Factory:
    return Factory(owner_sessionmaker, client)


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("CAREBASE_TEST_REDIS_URL")
    if not url:
        pytest.skip("CAREBASE_TEST_REDIS_URL is not set: Redis-backed tests need a real Redis server")
    return url
