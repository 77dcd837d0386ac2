"""Baseline apps measured next to GET /api/v1/me in the same run, each in its own uvicorn process
with the same settings as ``carebase serve`` (1 worker, httptools, uvloop, no access log).

- ``bench.baselines:bare_app``: FastAPI returning a small JSON: the ceiling for any FastAPI endpoint.
- ``bench.baselines:raw_app``: FastAPI + an asyncpg pool.
  ``/raw``: one primary-key read of ``users`` (no ORM, no transaction, no auth): the ceiling for an
  endpoint that reads one row.
  ``/raw-me``: the same SQL GET /api/v1/me sends, in the same transaction shape (BEGIN, tenant
  context, principal lookup, the /me query, COMMIT: 5 round trips) on raw asyncpg, without
  SQLAlchemy, FastAPI dependencies, JWT or our middleware. ``/me`` minus this is what the framework
  layers cost; this minus ``/raw`` is what the extra round trips cost.
  Environment: ``BENCH_DSN`` (asyncpg DSN of the app role), ``BENCH_USER_ID``, ``BENCH_TENANT_ID``,
  ``BENCH_SESSION_ID`` (from the token), ``BENCH_POOL_SIZE``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request

bare_app = FastAPI()


@bare_app.get("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok", "service": "bare-fastapi"}


@bare_app.get("/healthz")
async def bare_health() -> dict[str, str]:
    return {"status": "ok"}


@asynccontextmanager
async def _pool(app: FastAPI) -> AsyncIterator[None]:
    import asyncpg

    size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=size, max_size=size)
    app.state.user_id = uuid.UUID(os.environ["BENCH_USER_ID"])
    app.state.tenant_id = uuid.UUID(os.environ["BENCH_TENANT_ID"])
    app.state.session_id = uuid.UUID(os.environ["BENCH_SESSION_ID"])
    try:
        yield
    finally:
        await app.state.pool.close()


raw_app = FastAPI(lifespan=_pool)


@raw_app.get("/raw")
async def raw(request: Request) -> dict[str, str | None]:
    row = await request.app.state.pool.fetchrow(
        "SELECT id, full_name, email, phone FROM users WHERE id = $1", request.app.state.user_id
    )
    if row is None:
        raise HTTPException(404)
    return {"id": str(row["id"]), "full_name": row["full_name"], "email": row["email"], "phone": row["phone"]}


# Copies of the statements in carebase.core.db.set_context, carebase.identity.sessions.load_principal
# and carebase.identity.account (kept in step by hand: this is a yardstick, not the app).
_SET_CONTEXT = (
    "SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true),"
    " set_config('app.platform_admin', $3, true)"
)
_PRINCIPAL = (
    "SELECT u.full_name, u.mfa_enabled_at IS NOT NULL AS enrolled, s.mfa_verified, m.role"
    " FROM auth_sessions s JOIN users u ON u.id = s.user_id JOIN memberships m ON m.id = s.membership_id"
    " JOIN organizations o ON o.id = s.tenant_id"
    " WHERE s.id = $1 AND s.user_id = $2 AND s.tenant_id = $3 AND s.revoked_at IS NULL AND s.expires_at > now()"
    " AND u.is_active AND m.status = 'active' AND o.status = 'active'"
)
_ME = """
    SELECT u.full_name, u.email, u.phone, u.mfa_enabled_at IS NOT NULL AS mfa_enabled,
           coalesce((SELECT json_agg(json_build_object(
                        'id', m.id, 'tenant_id', m.tenant_id, 'tenant_name', o.name,
                        'role', m.role, 'status', m.status) ORDER BY o.name)
                     FROM memberships m JOIN organizations o ON o.id = m.tenant_id
                     WHERE m.user_id = u.id AND m.status = 'active' AND o.status = 'active'), '[]') AS memberships
    FROM users u WHERE u.id = $1
"""


@raw_app.get("/raw-me")
async def raw_me(request: Request) -> dict[str, object]:
    state = request.app.state
    async with state.pool.acquire() as conn, conn.transaction():
        await conn.fetchval(_SET_CONTEXT, str(state.tenant_id), str(state.user_id), "")
        principal = await conn.fetchrow(_PRINCIPAL, state.session_id, state.user_id, state.tenant_id)
        if principal is None:
            raise HTTPException(401)
        row = await conn.fetchrow(_ME, state.user_id)
    return {
        "id": str(state.user_id), "full_name": row["full_name"], "email": row["email"], "phone": row["phone"],
        "role": principal["role"], "mfa_enabled": row["mfa_enabled"], "memberships": row["memberships"],
    }  # fmt: skip


@raw_app.get("/healthz")
async def raw_health() -> dict[str, str]:
    return {"status": "ok"}
