"""Alembic environment: runs as the database owner, online only, async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

import carebase.models  # noqa: F401  (registers every table on Base.metadata)
from carebase.core.db import Base, async_url

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    url = config.attributes.get("owner_url") or config.get_main_option("sqlalchemy.url")
    engine = create_async_engine(async_url(url))
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


asyncio.run(_main())
