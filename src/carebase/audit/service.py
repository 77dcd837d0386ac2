"""Audit: append (in the caller's transaction), verify the chain, query.

Each tenant has one chain: ``hash = sha256(prev_hash || canonical(row))``. ``audit_heads`` keeps
the last link (which lets ``verify`` notice a removed tail); linking locks that row, which serialises
a tenant's writers. So a command only inserts its event into ``audit_pending`` (one statement, no
lock); a deferred trigger links it into the chain while the transaction commits (migration 0010), and
the lock is held for the commit alone. A rolled-back transaction leaves nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.clock import utcnow
from carebase.core.context import client_ip_var, request_id_var
from carebase.core.ids import new_id

GENESIS = "0" * 64

_CHAINED_FIELDS = (
    "id", "tenant_id", "seq", "occurred_at", "actor_user_id", "actor_role", "action", "outcome",
    "target_type", "target_id", "patient_id", "ip", "request_id", "details",
)  # fmt: skip


def _canonical_values(row: dict[str, Any]) -> dict[str, Any]:
    data = {}
    for name in _CHAINED_FIELDS:
        value = row.get(name)
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat(timespec="microseconds")
        data[name] = value
    return data


def _canonical(row: dict[str, Any]) -> bytes:
    return orjson.dumps(_canonical_values(row), option=orjson.OPT_SORT_KEYS)


def link_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(row)).hexdigest()


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: uuid.UUID | None
    role: str | None


def _split_canonical(values: dict[str, Any]) -> tuple[bytes, bytes]:
    """The canonical JSON of an event's values without its ``seq``, as the bytes before and after the
    number: ``canonical(row) == prefix + str(seq) + suffix``. The database knows ``seq`` only under the
    chain lock, so it completes the hash there (``app_audit_append``, migration 0010)."""
    before = {k: v for k, v in values.items() if k < "seq"}
    after = {k: v for k, v in values.items() if k > "seq"}
    return (
        orjson.dumps(before, option=orjson.OPT_SORT_KEYS)[:-1] + b',"seq":',
        b"," + orjson.dumps(after, option=orjson.OPT_SORT_KEYS)[1:],
    )


def pending_sql(first: int = 1, *, source: str | None = None) -> str:
    """The INSERT of one pending event, its five parameters (``pending_args``) numbered from ``first``; with
    ``source`` (a CTE's name) only when that CTE returns a row, for commands that fold it into their write."""
    p = [f"${first + i}" for i in range(5)]
    values = f"SELECT {p[0]}::uuid, {p[1]}::uuid, {p[2]}::jsonb, {p[3]}::bytea, {p[4]}::bytea"
    return f"INSERT INTO audit_pending (id, tenant_id, event, prefix, suffix) {values}" + (
        f" FROM {source}" if source else ""
    )


_PENDING_SQL = pending_sql()


def pending_args(
    tenant_id: uuid.UUID,
    action: str,
    *,
    actor: Actor | None = None,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    patient_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> tuple[uuid.UUID, uuid.UUID, str, bytes, bytes]:
    """The parameters of ``pending_sql`` for one event: the pending row's id, the tenant, the event's values
    as JSON without ``seq``, and its canonical JSON's bytes before and after ``seq``."""
    row: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "seq": 0,
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
    values = _canonical_values(row)
    prefix, suffix = _split_canonical(values)
    del values["seq"]
    return new_id(), tenant_id, orjson.dumps(values).decode(), prefix, suffix


async def record_on(conn: asyncpg.Connection, tenant_id: uuid.UUID, action: str, **fields: Any) -> None:
    """``record`` on a bare asyncpg connection inside its transaction (the hot paths)."""
    await conn.execute(_PENDING_SQL, *pending_args(tenant_id, action, **fields))


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
    The session's tenant context must be ``tenant_id`` (RLS enforces it). The event joins the
    tenant's chain when the transaction commits."""
    args = pending_args(
        tenant_id, action, actor=actor, outcome=outcome, target_type=target_type, target_id=target_id,
        patient_id=patient_id, details=details,
    )  # fmt: skip
    await (await session.connection()).exec_driver_sql(_PENDING_SQL, args)


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
