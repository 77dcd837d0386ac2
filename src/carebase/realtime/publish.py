"""The outbox consumer that feeds live screens: maps committed domain events to topics, records them
in the catch-up log (``realtime_events``) and publishes them on the bus.

Runs in the worker, so a change reaches screens only after its transaction committed. Idempotent:
a retried outbox event finds its rows (unique per source event and topic) and publishes them again
with the same ids and sequence numbers, which connections drop as already sent. A batch handler: the
events of one claimed batch are looked up, recorded and published together (one statement each)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson

from carebase.core.ids import new_id
from carebase.core.worker import handler, periodic
from carebase.realtime import bus
from carebase.realtime.topics import canonical
from carebase.settings import get_settings

APPOINTMENT_EVENTS = (
    "appointment.booked", "appointment.confirmed", "appointment.cancelled", "appointment.rescheduled",
    "appointment.checked_in", "appointment.started", "appointment.completed", "appointment.no_show",
)  # fmt: skip
OTHER_EVENTS = ("waitlist.offered", "schedule.changed", "device.approval_requested", "notification.created")
RETENTION = "1 hour"
# Only these payload fields go to screens: ids, times and statuses; screens fetch the rest over HTTP.
APPOINTMENT_FIELDS = ("appointment_id", "practitioner_id", "location_id", "starts_at", "status")

INSERT_SQL = """
INSERT INTO realtime_events (id, tenant_id, topic, type, data, source_event_id)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::uuid[])
ON CONFLICT (source_event_id, topic) DO UPDATE SET topic = EXCLUDED.topic
RETURNING id, seq, tenant_id, topic, type, data::text AS data
"""


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def _patient_users(conn: asyncpg.Connection, events: list[dict[str, Any]]) -> dict[uuid.UUID, uuid.UUID]:
    """The portal user of each patient the events name, in one query."""
    ids = {p for e in events if (p := _uuid((e["payload"] or {}).get("patient_id")))}
    if not ids:
        return {}
    rows = await conn.fetch("SELECT id, user_id FROM patients WHERE id = ANY($1::uuid[]) AND user_id IS NOT NULL",
                            list(ids))  # fmt: skip
    return {r["id"]: r["user_id"] for r in rows}


async def routes(
    conn: asyncpg.Connection, event: dict[str, Any], patient_users: dict[uuid.UUID, uuid.UUID]
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, data) pairs for one outbox event; ``patient_users`` from ``_patient_users`` for its batch."""
    topic, payload = event["topic"], event["payload"] or {}
    out: list[tuple[str, dict[str, Any]]] = []
    if topic in APPOINTMENT_EVENTS or topic == "waitlist.offered":
        data = {k: payload[k] for k in APPOINTMENT_FIELDS if k in payload}
        if location := _uuid(payload.get("location_id")):
            out.append((canonical("board", location), data))
        if practitioner := _uuid(payload.get("practitioner_id")):
            out.append((canonical("doctor", practitioner), data))
        patient = _uuid(payload.get("patient_id"))
        users = {patient_users.get(patient) if patient else None}
        if topic == "waitlist.offered":
            users.add(_uuid(payload.get("user_id")))
            data = data | {"offer_expires_at": payload.get("offer_expires_at")}
        out += [(canonical("user", u), data) for u in users if u]
    elif topic == "schedule.changed":
        if practitioner := _uuid(payload.get("practitioner_id")):
            out.append((canonical("doctor", practitioner), {"practitioner_id": str(practitioner)}))
    elif topic == "device.approval_requested":
        admins = await conn.fetch(
            "SELECT user_id FROM memberships WHERE tenant_id = $1 AND role = 'hospital_admin' AND status = 'active'",
            event["tenant_id"],
        )
        out += [(canonical("user", r["user_id"]), {"device_id": payload.get("device_id")}) for r in admins]
    elif topic == "notification.created":
        if user := _uuid(payload.get("user_id")):
            keep = ("notification_id", "category", "title", "unread_count", "url")
            out.append((canonical("user", user), {k: payload[k] for k in keep if k in payload}))
    return out


_FROM_SETTINGS: Any = object()


async def record_and_publish(
    conn: asyncpg.Connection, event: dict[str, Any], redis_url: str | None = _FROM_SETTINGS
) -> list[dict[str, Any]]:
    """Record and publish one outbox event to its topics; returns the bus messages. ``redis_url``
    defaults to the settings' (None: PostgreSQL NOTIFY)."""
    return await record_and_publish_many(conn, [event], redis_url)


async def record_and_publish_many(
    conn: asyncpg.Connection, events: list[dict[str, Any]], redis_url: str | None = _FROM_SETTINGS
) -> list[dict[str, Any]]:
    """``record_and_publish`` for a batch of events: one lookup, one insert and one publish for them all."""
    users = await _patient_users(conn, events)
    pairs = [(event, topic, data) for event in events for topic, data in await routes(conn, event, users)]
    if not pairs:
        return []
    rows = await conn.fetch(
        INSERT_SQL,
        [new_id() for _ in pairs], [e["tenant_id"] for e, _, _ in pairs], [t for _, t, _ in pairs],
        [e["topic"] for e, _, _ in pairs], [orjson.dumps(d).decode() for _, _, d in pairs],
        [e["id"] for e, _, _ in pairs],
    )  # fmt: skip
    messages = [
        {"id": str(r["id"]), "seq": r["seq"], "tenant_id": str(r["tenant_id"]), "topic": r["topic"],
         "type": r["type"], "data": orjson.loads(r["data"])}
        for r in sorted(rows, key=lambda r: r["seq"])
    ]  # fmt: skip
    await bus.publish(conn, messages, get_settings().redis_url if redis_url is _FROM_SETTINGS else redis_url)
    return messages


async def publish_events(conn: asyncpg.Connection, events: list[dict[str, Any]]) -> None:
    await record_and_publish_many(conn, events)


# One name for every topic, so a claimed batch's events are published together; the name keys the
# delivery records, and is the one the per-event handler had.
for _topic in APPOINTMENT_EVENTS + OTHER_EVENTS:
    handler(_topic, batch=True, name="carebase.realtime.publish.publish_event")(publish_events)


@periodic
async def prune_realtime_events(session: Any) -> int:
    """Drop catch-up entries older than the retention window (a client away longer re-fetches)."""
    from sqlalchemy import text

    result = await session.execute(
        text(f"DELETE FROM realtime_events WHERE created_at < now() - interval '{RETENTION}'")  # noqa: S608
    )
    return int(getattr(result, "rowcount", 0) or 0)
