"""Low-level pieces shared by booking and the waitlist: the exclusive insert, stale-hold expiry,
the event payload, marking an appointment cancelled."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.errors import Conflict
from carebase.identity.principal import Principal
from carebase.scheduling.models import Appointment

# Said when the exclusion constraint refuses a booking (a race lost, or a slot someone holds or booked).
SLOT_TAKEN = "That time is not free any more: it was just taken. Pick another slot."
HOLD_MINUTES = 5
MAX_ACTIVE_HOLDS = 3


def event_payload(a: Appointment | asyncpg.Record) -> dict[str, str]:
    """The appointment events' payload, from the ORM object or an appointments row (``app_confirm_hold``,
    migration 0015, builds the same in SQL)."""
    get: Callable[[str], Any] = a.__getitem__ if isinstance(a, asyncpg.Record) else partial(getattr, a)
    return {
        "appointment_id": str(get("id")), "practitioner_id": str(get("practitioner_id")),
        "patient_id": str(get("patient_id")), "location_id": str(get("location_id")),
        "starts_at": get("starts_at").isoformat(), "status": get("status"),
    }  # fmt: skip


async def insert_exclusive(session: AsyncSession, appointment: Appointment) -> None:
    """Insert inside a savepoint; an overlap with an active booking is a 409, nothing written."""
    try:
        async with session.begin_nested():
            session.add(appointment)
            await session.flush()
    except IntegrityError as exc:
        if "no_double_booking" in str(exc.orig):
            raise Conflict(SLOT_TAKEN, code_hint="slot_taken") from exc
        raise


_EXPIRE_STALE_SQL = (
    "UPDATE appointments SET status = 'expired', updated_at = now() WHERE practitioner_id = $1 AND status = 'held'"
    " AND hold_expires_at < now() AND tstzrange(starts_at, ends_at) && tstzrange($2, $3)"
)


async def expire_stale_holds_on(
    conn: asyncpg.Connection, practitioner_id: uuid.UUID | None, start: datetime, end: datetime
) -> int:
    """Mark lapsed holds overlapping [start, end) expired (the exclusion constraint still counts them);
    returns how many."""
    status = await conn.execute(_EXPIRE_STALE_SQL, practitioner_id, start, end)
    return int(status.rsplit(" ", 1)[-1])


async def mark_cancelled(
    session: AsyncSession, principal: Principal, appointment: Appointment, reason: str, **details: str
) -> None:
    """``appointment`` cancelled by ``principal``, with the audit event; the caller emits its events and
    offers the freed time."""
    appointment.status = "cancelled"
    appointment.cancelled_by_user_id = principal.user_id
    appointment.cancel_reason = reason
    appointment.hold_expires_at = None
    appointment.version += 1
    await session.flush()
    await audit.record(
        session, principal.tenant_id, "scheduling.appointment.cancelled",
        actor=audit.Actor(principal.user_id, principal.role), target_type="appointment", target_id=appointment.id,
        patient_id=appointment.patient_id, details={"by": principal.role.value, **details},
    )  # fmt: skip
