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

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from carebase.core.clock import utcnow
from carebase.core.errors import ValidationFailed

TTL = timedelta(hours=24)
_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,200}$")


def request_fingerprint(method: str, path: str, body: object) -> str:
    return hashlib.sha256(f"{method} {path} ".encode() + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def run_once(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    key: str | None,
    fingerprint: str,
    status_code: int,
    run: Callable[[], Awaitable[object]],
) -> Response:
    """Run ``run`` (which returns a JSON-able result) once per key; replay it afterwards."""
    if key is None:
        return Response(orjson.dumps(await run()), status_code=status_code, media_type="application/json")
    if not _KEY.match(key):
        raise ValidationFailed.field("Idempotency-Key", "Use 8 to 200 letters, digits or . _ : -")
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"idem:{tenant_id}:{user_id}:{key}"}
    )
    stored = (
        await session.execute(
            text(
                "SELECT request_hash, status_code, body FROM idempotency_keys"
                " WHERE tenant_id = :t AND user_id = :u AND key = :k AND expires_at > now()"
            ),
            {"t": tenant_id, "u": user_id, "k": key},
        )
    ).first()
    if stored is not None:
        if stored.request_hash != fingerprint:
            raise ValidationFailed.field(
                "Idempotency-Key", "This key was already used with a different request. Use a new key."
            )
        return Response(
            bytes(stored.body), status_code=stored.status_code, media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )  # fmt: skip
    body = orjson.dumps(await run())
    await session.execute(
        text(
            "INSERT INTO idempotency_keys (id, tenant_id, user_id, key, request_hash, status_code, body, expires_at)"
            " VALUES (:id, :t, :u, :k, :h, :s, :b, :e)"
            " ON CONFLICT (tenant_id, user_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,"
            " status_code = EXCLUDED.status_code, body = EXCLUDED.body, expires_at = EXCLUDED.expires_at,"
            " created_at = now()"
        ),
        {"id": uuid.uuid4(), "t": tenant_id, "u": user_id, "k": key, "h": fingerprint, "s": status_code,
         "b": body, "e": utcnow() + TTL},
    )  # fmt: skip
    return Response(body, status_code=status_code, media_type="application/json")
