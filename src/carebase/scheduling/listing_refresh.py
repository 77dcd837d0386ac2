"""Keeps ``directory_listings.next_free_at`` current: the first free slot of each published
practitioner at each listed location, recomputed after anything that can change it (bookings,
cancellations, schedule edits) by the worker, outside the request that caused it.

Cheap enough for a booking peak: a claimed batch refreshes each practitioner once; a booking that starts after
the first free slot has ended cannot move it and refreshes nothing; and the search for the first free slot
looks one day ahead first, then a week, then a month at a time, so a practitioner free tomorrow costs one
day's computation, not a month's."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from carebase.core.clock import utcnow
from carebase.core.worker import handler
from carebase.scheduling.availability import MAX_DAYS, MIN_NOTICE, availability_on

log = logging.getLogger("carebase.scheduling")

# How far ahead to look for the next free slot: 1 day, then 7, then MAX_DAYS at a time.
HORIZON_DAYS = 90
STEPS = (1, 7)

# Not "appointment.confirmed": it comes with "appointment.booked" (a confirmed hold) or after a request was
# approved, and neither changes free time (a hold or a request already blocks its slot).
# Of these, only BLOCKING events take free time away (and so can only move the first free slot if they
# overlap it); the others can free time anywhere.
BLOCKING = ("appointment.booked", "waitlist.offered")
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
        steps = iter(STEPS)
        while day < end and len(first_free) < len(locations):
            days = min(next(steps, MAX_DAYS), (end - day).days)
            result = await availability_on(
                conn, practitioner_id=practitioner_id, service_id=service_id, first_day=day, days=days
            )
            for slot in result.slots:
                first_free.setdefault(slot.location_id, slot.starts_at)
            day += timedelta(days=days)
    for location_id in locations:
        await conn.execute(
            "UPDATE directory_listings SET next_free_at = $3, updated_at = now()"
            " WHERE practitioner_id = $1 AND location_id = $2",
            practitioner_id, location_id, first_free.get(location_id),
        )  # fmt: skip


# Per listing of the practitioners: the first free slot and the shortest active service's length.
_FIRST_FREE_SQL = """
SELECT l.practitioner_id, l.next_free_at,
       (SELECT min(s.duration_minutes) FROM services s JOIN practitioner_services ps ON ps.service_id = s.id
         WHERE ps.practitioner_id = l.practitioner_id AND s.is_active) AS minutes
FROM directory_listings l WHERE l.practitioner_id = ANY($1::uuid[])
"""


async def _unmoved(conn: asyncpg.Connection, blocked: dict[str, list[datetime]]) -> set[str]:
    """The practitioners whose first free slot (at every listing) ends before each of their new bookings
    starts: taking later time away cannot move it. A listing not yet computed, or whose slot is no longer
    bookable, is refreshed."""
    now = utcnow()
    moved: set[str] = set()
    seen: set[str] = set()
    for row in await conn.fetch(_FIRST_FREE_SQL, list(blocked)):
        practitioner, first, minutes = str(row["practitioner_id"]), row["next_free_at"], row["minutes"]
        seen.add(practitioner)
        if first is None or minutes is None or first < now + MIN_NOTICE or any(
            starts < first + timedelta(minutes=minutes) for starts in blocked[practitioner]
        ):
            moved.add(practitioner)
    return seen - moved


async def _on_changes(conn: asyncpg.Connection, events: list[dict[str, Any]]) -> None:
    """Once per practitioner, however many of the batch's events name them: every event was committed before
    the batch was claimed, so one refresh now sees them all."""
    practitioners: dict[str, None] = {}
    blocked: dict[str, list[datetime]] = {}
    freed: set[str] = set()
    for event in events:
        payload = event["payload"] or {}
        if not (practitioner := payload.get("practitioner_id")):
            continue
        practitioners[practitioner] = None
        if event["topic"] in BLOCKING and payload.get("starts_at"):
            blocked.setdefault(practitioner, []).append(datetime.fromisoformat(payload["starts_at"]))
        else:
            freed.add(practitioner)  # a cancellation, a schedule change...: refresh
    candidates = {p: starts for p, starts in blocked.items() if p not in freed}
    only_later = await _unmoved(conn, candidates) if candidates else set()
    for practitioner in practitioners:
        if practitioner not in only_later:
            await refresh_next_free(conn, uuid.UUID(practitioner))


# The per-event handler's name, so delivery records written before it took batches still count.
for _topic in TOPICS:
    handler(_topic, batch=True, name="carebase.scheduling.listing_refresh._on_change")(_on_changes)
