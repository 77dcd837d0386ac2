"""``Idempotency-Key`` for POSTs that must not happen twice (registration, booking, payment).

The first request with a key runs and its response is stored per tenant, user and key for 24
hours; a repeat with the same body gets the stored response; a repeat with another body is
refused. Requests with the same key are serialised by a transaction lock."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from carebase.core.clock import utcnow
from carebase.core.db import driver_connection
from carebase.core.errors import ValidationFailed
from carebase.core.uow import raw_transaction_unless_open

TTL = timedelta(hours=24)
_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,200}$")


def request_fingerprint(method: str, path: str, body: object) -> str:
    return hashlib.sha256(f"{method} {path} ".encode() + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext($1))"
_STORED_SQL = (
    "SELECT request_hash, status_code, body FROM idempotency_keys"
    " WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND expires_at > now()"
)
_STORE_SQL = (
    "INSERT INTO idempotency_keys (id, tenant_id, user_id, key, request_hash, status_code, body, expires_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    " ON CONFLICT (tenant_id, user_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,"
    " status_code = EXCLUDED.status_code, body = EXCLUDED.body, expires_at = EXCLUDED.expires_at,"
    " created_at = now()"
)


async def run_once_on(
    conn: asyncpg.Connection,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    key: str | None,
    fingerprint: Callable[[], str],
    status_code: int,
    run: Callable[[], Awaitable[object]],
) -> Response:
    """Run ``run`` (which returns a JSON-able result) once per key; replay it afterwards. ``fingerprint`` gives
    the request's ``request_fingerprint``; it is called only when there is a key. The stored response
    commits with the work: in ``conn``'s transaction, or, when none is open (a handler whose statements are
    each their own), in one opened here for the lookup, the work and the store."""
    if key is None:
        return Response(orjson.dumps(await run()), status_code=status_code, media_type="application/json")
    if not _KEY.match(key):
        raise ValidationFailed.field("Idempotency-Key", "Use 8 to 200 letters, digits or . _ : -")
    async with raw_transaction_unless_open(conn, tenant_id=tenant_id, user_id=user_id):
        return await _run_once_in_transaction(conn, tenant_id, user_id, key, fingerprint(), status_code, run)


async def _run_once_in_transaction(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, user_id: uuid.UUID, key: str, fingerprint: str, status_code: int,
    run: Callable[[], Awaitable[object]],
) -> Response:  # fmt: skip
    # Two statements, not one: the lookup needs a snapshot taken after the lock is granted.
    await conn.execute(_LOCK_SQL, f"idem:{tenant_id}:{user_id}:{key}")
    stored = await conn.fetchrow(_STORED_SQL, tenant_id, user_id, key)
    if stored is not None:
        if stored["request_hash"] != fingerprint:
            raise ValidationFailed.field(
                "Idempotency-Key", "This key was already used with a different request. Use a new key."
            )
        return Response(
            bytes(stored["body"]), status_code=stored["status_code"], media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )  # fmt: skip
    body = orjson.dumps(await run())
    await conn.execute(
        _STORE_SQL, uuid.uuid4(), tenant_id, user_id, key, fingerprint, status_code, body, utcnow() + TTL
    )
    return Response(body, status_code=status_code, media_type="application/json")


async def run_once(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    key: str | None,
    fingerprint: Callable[[], str],
    status_code: int,
    run: Callable[[], Awaitable[object]],
) -> Response:
    """``run_once_on`` in a session's unit of work."""
    return await run_once_on(
        await driver_connection(session), tenant_id=tenant_id, user_id=user_id, key=key, fingerprint=fingerprint,
        status_code=status_code, run=run,
    )  # fmt: skip
