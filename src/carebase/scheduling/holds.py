"""Low-level pieces shared by booking and the waitlist: the exclusive insert, stale-hold expiry,
the event payload."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.errors import Conflict
from carebase.scheduling.models import Appointment


def event_payload(a: Appointment) -> dict[str, str]:
    return {
        "appointment_id": str(a.id), "practitioner_id": str(a.practitioner_id), "patient_id": str(a.patient_id),
        "location_id": str(a.location_id), "starts_at": a.starts_at.isoformat(), "status": a.status,
    }  # fmt: skip


async def insert_exclusive(session: AsyncSession, appointment: Appointment) -> None:
    """Insert inside a savepoint; an overlap with an active booking is a 409, nothing written."""
    try:
        async with session.begin_nested():
            session.add(appointment)
            await session.flush()
    except IntegrityError as exc:
        if "no_double_booking" in str(exc.orig):
            raise Conflict("That time was just taken. Pick another slot.", code_hint="slot_taken") from exc
        raise


async def expire_stale_holds(session: AsyncSession, practitioner_id: uuid.UUID, start: datetime, end: datetime) -> None:
    await session.execute(
        text(
            "UPDATE appointments SET status = 'expired', updated_at = now() WHERE practitioner_id = :p"
            " AND status = 'held' AND hold_expires_at < now() AND tstzrange(starts_at, ends_at) && tstzrange(:s, :e)"
        ),
        {"p": practitioner_id, "s": start, "e": end},
    )
