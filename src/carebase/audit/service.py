"""Audit: append (in the caller's transaction), verify the chain, query.

Each tenant has one chain: ``hash = sha256(prev_hash || canonical(row))``. ``audit_heads`` keeps
the last link; appending locks that row, which serialises appends per tenant for the short time
between the append and the commit, and lets ``verify`` notice a removed tail.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.clock import utcnow
from carebase.core.context import client_ip_var, request_id_var
from carebase.core.ids import new_id

GENESIS = "0" * 64

_CHAINED_FIELDS = (
    "id", "tenant_id", "seq", "occurred_at", "actor_user_id", "actor_role", "action", "outcome",
    "target_type", "target_id", "patient_id", "ip", "request_id", "details",
)  # fmt: skip


def _canonical(row: dict[str, Any]) -> bytes:
    data = {}
    for name in _CHAINED_FIELDS:
        value = row.get(name)
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat(timespec="microseconds")
        data[name] = value
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def link_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(row)).hexdigest()


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: uuid.UUID | None
    role: str | None


async def record(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    action: str,
    *,
    actor: Actor | None = None,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    patient_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit event to the tenant's chain in the current transaction.

    ``details`` must hold no PHI, secrets or codes: ids, field names and reasons only.
    The session's tenant context must be ``tenant_id`` (RLS enforces it)."""
    head = (
        await session.execute(
            text("SELECT seq, hash FROM audit_heads WHERE tenant_id = :t FOR UPDATE"), {"t": tenant_id}
        )
    ).first()
    if head is None:
        await session.execute(
            text(
                "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES (:t, 0, :g) ON CONFLICT DO NOTHING"
            ),
            {"t": tenant_id, "g": GENESIS},
        )
        head = (
            await session.execute(
                text("SELECT seq, hash FROM audit_heads WHERE tenant_id = :t FOR UPDATE"), {"t": tenant_id}
            )
        ).one()
    prev_seq, prev_hash = head
    row: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "seq": prev_seq + 1,
        "occurred_at": utcnow(),
        "actor_user_id": actor.user_id if actor else None,
        "actor_role": actor.role if actor else None,
        "action": action,
        "outcome": outcome,
        "target_type": target_type,
        "target_id": str(target_id) if target_id is not None else None,
        "patient_id": patient_id,
        "ip": client_ip_var.get(),
        "request_id": request_id_var.get(),
        "details": details or {},
    }
    row["prev_hash"] = prev_hash
    row["hash"] = link_hash(prev_hash, row)
    params = dict(row, details=orjson.dumps(row["details"]).decode())
    await session.execute(
        text(
            "INSERT INTO audit_events (id, tenant_id, seq, occurred_at, actor_user_id, actor_role, action,"
            " outcome, target_type, target_id, patient_id, ip, request_id, details, prev_hash, hash)"
            " VALUES (:id, :tenant_id, :seq, :occurred_at, :actor_user_id, :actor_role, :action, :outcome,"
            " :target_type, :target_id, :patient_id, :ip, :request_id, CAST(:details AS jsonb),"
            " :prev_hash, :hash)"
        ),
        params,
    )
    await session.execute(
        text("UPDATE audit_heads SET seq = :s, hash = :h WHERE tenant_id = :t"),
        {"s": row["seq"], "h": row["hash"], "t": tenant_id},
    )


@dataclass(frozen=True, slots=True)
class BrokenLink:
    tenant_id: uuid.UUID
    seq: int
    event_id: uuid.UUID | None
    reason: str


async def verify_chain(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> tuple[int, BrokenLink | None]:
    """Walk one tenant's chain (as the owner). Returns (events checked, first broken link or None)."""
    expected_seq, prev = 1, GENESIS
    checked = 0
    async with conn.transaction():
        cursor = conn.cursor(
            "SELECT id, tenant_id, seq, occurred_at, actor_user_id, actor_role, action, outcome,"
            " target_type, target_id, patient_id, ip, request_id, details::text AS details, prev_hash, hash"
            " FROM audit_events WHERE tenant_id = $1 ORDER BY seq",
            tenant_id,
        )
        async for rec in cursor:
            row = dict(rec)
            row["details"] = orjson.loads(row["details"])
            if row["seq"] != expected_seq:
                reason = "an event is missing before this one" if row["seq"] > expected_seq else "out of order"
                return checked, BrokenLink(tenant_id, expected_seq, row["id"], reason)
            if row["prev_hash"] != prev:
                return checked, BrokenLink(tenant_id, row["seq"], row["id"], "does not link to the previous event")
            if link_hash(prev, row) != row["hash"]:
                return checked, BrokenLink(tenant_id, row["seq"], row["id"], "content was changed")
            prev = row["hash"]
            expected_seq += 1
            checked += 1
        head = await conn.fetchrow("SELECT seq, hash FROM audit_heads WHERE tenant_id = $1", tenant_id)
    if head is not None and (head["seq"] != expected_seq - 1 or head["hash"] != prev):
        return checked, BrokenLink(tenant_id, expected_seq, None, "events after this point were removed")
    return checked, None
