"""Keeps ``directory_listings.next_free_at`` current: the first free slot of each published
practitioner at each listed location, recomputed after anything that can change it (bookings,
cancellations, schedule edits) by the worker, outside the request that caused it."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import asyncpg

from carebase.core.clock import utcnow
from carebase.core.worker import handler
from carebase.scheduling.availability import MAX_DAYS, availability_on

log = logging.getLogger("carebase.scheduling")

# How far ahead to look for the next free slot, in steps of at most MAX_DAYS.
HORIZON_DAYS = 90

# Not "appointment.confirmed": it comes with "appointment.booked" (a confirmed hold) or after a request was
# approved, and neither changes free time (a hold or a request already blocks its slot).
TOPICS = (
    "appointment.booked", "appointment.cancelled", "appointment.rescheduled",
    "appointment.no_show", "schedule.changed", "practitioner.updated", "waitlist.offered",
)  # fmt: skip


async def refresh_next_free(conn: asyncpg.Connection, practitioner_id: uuid.UUID) -> None:
    """Recompute the next free slot of one practitioner's listings (on the owner's connection, or
    any connection that can read that practitioner's tenant)."""
    locations = [r["location_id"] for r in await conn.fetch(
        "SELECT location_id FROM directory_listings WHERE practitioner_id = $1", practitioner_id)]  # fmt: skip
    if not locations:
        return
    # The shortest active service stands for "a consultation": if it fits, the practitioner is free.
    service_id = await conn.fetchval(
        "SELECT s.id FROM services s JOIN practitioner_services ps ON ps.service_id = s.id"
        " WHERE ps.practitioner_id = $1 AND s.is_active ORDER BY s.duration_minutes, s.id LIMIT 1",
        practitioner_id,
    )
    first_free: dict[uuid.UUID, Any] = {}
    if service_id is not None:
        day = utcnow().date()
        end = day + timedelta(days=HORIZON_DAYS)
        while day < end and len(first_free) < len(locations):
            result = await availability_on(
                conn, practitioner_id=practitioner_id, service_id=service_id, first_day=day, days=MAX_DAYS
            )
            for slot in result.slots:
                first_free.setdefault(slot.location_id, slot.starts_at)
            day += timedelta(days=MAX_DAYS)
    for location_id in locations:
        await conn.execute(
            "UPDATE directory_listings SET next_free_at = $3, updated_at = now()"
            " WHERE practitioner_id = $1 AND location_id = $2",
            practitioner_id, location_id, first_free.get(location_id),
        )  # fmt: skip


async def _on_changes(conn: asyncpg.Connection, events: list[dict[str, Any]]) -> None:
    """Once per practitioner, however many of the batch's events name them: every event was committed before
    the batch was claimed, so one refresh now sees them all."""
    practitioners = dict.fromkeys(p for e in events if (p := (e["payload"] or {}).get("practitioner_id")))
    for practitioner in practitioners:
        await refresh_next_free(conn, uuid.UUID(practitioner))


# The per-event handler's name, so delivery records written before it took batches still count.
for _topic in TOPICS:
    handler(_topic, batch=True, name="carebase.scheduling.listing_refresh._on_change")(_on_changes)
