"""Worker tests: an owner connection, throw-away topics and a side-effect table handlers write to."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.ids import new_id
from carebase.core.worker import unregister
from carebase.tenancy.models import PLATFORM_TENANT_ID

EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS worker_test_effects (id bigserial PRIMARY KEY, event_id uuid NOT NULL,"
    " handler text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"
)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(asyncpg_dsn(database_url))
    await c.execute(EFFECTS_DDL)
    yield c
    await c.close()


@pytest.fixture
def topic() -> AsyncIterator[str]:
    name = f"test.{uuid.uuid4().hex[:12]}"
    yield name  # type: ignore[misc]
    unregister(name)


async def insert_events(
    conn: asyncpg.Connection, topic: str, n: int, tenant_id: uuid.UUID = PLATFORM_TENANT_ID
) -> list:
    ids = [new_id() for _ in range(n)]
    await conn.executemany(
        "INSERT INTO outbox (id, tenant_id, topic, payload) VALUES ($1, $2, $3, $4::jsonb)",
        [(i, tenant_id, topic, f'{{"n": {k}}}') for k, i in enumerate(ids)],
    )
    return ids


async def effects(conn: asyncpg.Connection, ids: list) -> dict[tuple, int]:
    rows = await conn.fetch(
        "SELECT event_id, handler, count(*) AS n FROM worker_test_effects WHERE event_id = ANY($1::uuid[])"
        " GROUP BY 1, 2", ids,
    )  # fmt: skip
    return {(r["event_id"], r["handler"]): r["n"] for r in rows}
