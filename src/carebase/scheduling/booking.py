"""Booking: hold, confirm, approve, cancel, reschedule, and the visit's status machine.

The exclusion constraint ``no_double_booking`` is the guarantee: of any number of concurrent
attempts on overlapping time of one practitioner, one insert wins and the others get 409.
Availability is checked first only to refuse slots outside the schedule with a clear message.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.db import driver_connection
from carebase.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from carebase.core.outbox import emit
from carebase.core.uow import after_commit
from carebase.core.worker import periodic
from carebase.directory.models import Practitioner
from carebase.identity.principal import Principal
from carebase.identity.roles import Role
from carebase.scheduling.availability import beyond_horizon, is_free
from carebase.scheduling.dependents import can_book_for
from carebase.scheduling.hold_confirm import HoldRequest, announce, confirm_on, hold_on
from carebase.scheduling.holds import event_payload, insert_exclusive, mark_cancelled
from carebase.scheduling.models import Appointment
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.waitlist import offer_freed_slot
from carebase.tenancy.service import tenant_policy

NO_SHOW_GRACE = timedelta(minutes=15)
CHECK_IN_EARLIEST = timedelta(hours=2)
SOURCES = ("patient", "front_desk", "phone", "walk_in")

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": (("requested",), "confirmed"),
    "decline": (("requested",), "cancelled"),
    "check_in": (("confirmed",), "checked_in"),
    "start": (("checked_in",), "in_consultation"),
    "complete": (("in_consultation",), "completed"),
    "no_show": (("confirmed", "checked_in"), "no_show"),
}
EVENTS = {
    "approve": "appointment.confirmed",
    "decline": "appointment.cancelled",
    "check_in": "appointment.checked_in",
    "start": "appointment.started",
    "complete": "appointment.completed",
    "no_show": "appointment.no_show",
}


def _actor(principal: Principal) -> audit.Actor:
    return audit.Actor(principal.user_id, principal.role)


async def _reload(session: AsyncSession, appointment_id: uuid.UUID) -> Appointment:
    appointment = await session.get(Appointment, appointment_id, populate_existing=True)
    assert appointment is not None
    return appointment


async def place_hold(session: AsyncSession, principal: Principal, req: HoldRequest) -> Appointment:
    """Reserve a free slot for a few minutes while the patient confirms (or pays): ``hold_confirm.hold_on``
    on the session's connection."""
    await session.flush()
    held = await hold_on(await driver_connection(session), principal, req)
    after_commit(session, partial(announce, principal.tenant_id, held))
    return await _reload(session, held["id"])


async def get_for(session: AsyncSession, principal: Principal, appointment_id: uuid.UUID) -> Appointment:
    """An appointment the principal may see: staff with the read permission, or the patient
    (or guardian) it belongs to. Anything else is 404, never 403, so ids leak nothing."""
    appointment = await session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None:
        raise NotFound("No such appointment.")
    if principal.role is Role.PATIENT:
        if appointment.booked_by_user_id != principal.user_id and not await can_book_for(
            session, principal, appointment.patient_id
        ):
            raise NotFound("No such appointment.")
    elif not principal.can(P.APPOINTMENTS_READ):
        raise NotFound("No such appointment.")
    return appointment


async def confirm(session: AsyncSession, principal: Principal, appointment_id: uuid.UUID) -> Appointment:
    """Turn a hold into a booking: ``hold_confirm.confirm_on`` on the session's connection."""
    await session.flush()
    row = await confirm_on(await driver_connection(session), principal, appointment_id)
    after_commit(session, partial(announce, principal.tenant_id, row))
    return await _reload(session, row["id"])


async def _check_cutoff(session: AsyncSession, principal: Principal, appointment: Appointment) -> None:
    if principal.role is not Role.PATIENT:
        return  # the front desk may change bookings at any time
    cutoff = timedelta(hours=(await tenant_policy(session, principal.tenant_id)).cancellation_cutoff_hours)
    if appointment.starts_at - utcnow() < cutoff:
        hours = int(cutoff.total_seconds() // 3600)
        raise Conflict(f"Changes online close {hours} hours before the visit. Please call the clinic.")


async def cancel(session: AsyncSession, principal: Principal, appointment_id: uuid.UUID, reason: str) -> Appointment:
    appointment = await get_for(session, principal, appointment_id)
    if appointment.status not in ("held", "requested", "confirmed"):
        raise Conflict(f"An appointment that is {appointment.status} cannot be cancelled.")
    if appointment.status != "held":
        await _check_cutoff(session, principal, appointment)
    was_held = appointment.status == "held"
    await mark_cancelled(session, principal, appointment, reason)
    if not was_held:
        await emit(
            session, principal.tenant_id, "appointment.cancelled", event_payload(appointment) | {"reason": reason}
        )
        await offer_freed_slot(session, principal, appointment)
    return appointment


async def reschedule(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    starts_at: datetime,
    location_id: uuid.UUID | None = None,
) -> Appointment:
    """Move a booking atomically: the old slot is freed only if the new one is taken."""
    old = await get_for(session, principal, appointment_id)
    if old.status not in ("requested", "confirmed"):
        raise Conflict(f"An appointment that is {old.status} cannot be rescheduled.")
    await _check_cutoff(session, principal, old)
    if starts_at.tzinfo is None:
        raise ValidationFailed.field("starts_at", "Give the time with its UTC offset.")
    now = utcnow()
    if starts_at <= now:
        raise ValidationFailed.field("starts_at", "That time is in the past.")
    horizon = (await tenant_policy(session, principal.tenant_id)).booking_horizon_days
    if (too_far := beyond_horizon(starts_at, horizon, now)) is not None:
        raise too_far
    previous_status = old.status
    old.status = "rescheduled"  # frees its time inside this transaction only
    await session.flush()
    slot, terms = await is_free(
        session, practitioner_id=old.practitioner_id, service_id=old.service_id, starts_at=starts_at,
        location_id=location_id,
    )  # fmt: skip
    if slot is None:
        raise Conflict("That time is not free in this practitioner's schedule. Pick one of the free slots.")
    new = Appointment(
        tenant_id=old.tenant_id, practitioner_id=old.practitioner_id, patient_id=old.patient_id,
        service_id=old.service_id, location_id=slot.location_id, starts_at=slot.starts_at, ends_at=slot.ends_at,
        status=previous_status, source=old.source, booked_by_user_id=old.booked_by_user_id, mode=old.mode,
        price_minor=old.price_minor, currency=old.currency, payment_status=old.payment_status, reason=old.reason,
        rescheduled_from_id=old.id,
    )  # fmt: skip
    await insert_exclusive(session, new)
    old.rescheduled_to_id = new.id
    old.version += 1
    await audit.record(
        session, principal.tenant_id, "scheduling.appointment.rescheduled", actor=_actor(principal),
        target_type="appointment", target_id=new.id, patient_id=new.patient_id, details={"from": str(old.id)},
    )  # fmt: skip
    await emit(
        session,
        principal.tenant_id,
        "appointment.rescheduled",
        event_payload(new) | {"from_appointment_id": str(old.id)},
    )
    await offer_freed_slot(session, principal, old)
    return new


async def transition(
    session: AsyncSession, principal: Principal, appointment_id: uuid.UUID, action: str
) -> Appointment:
    """Front-desk and clinician steps of the visit: approve, decline, check in, start, complete, no-show."""
    allowed_from, target = TRANSITIONS[action]
    appointment = await get_for(session, principal, appointment_id)
    if principal.role is Role.PATIENT:
        raise NotFound("No such appointment.")
    needed = P.BOOKINGS_APPROVE if action in ("approve", "decline") else P.APPOINTMENTS_MANAGE
    if not principal.can(needed):
        raise PermissionDenied()
    if action in ("approve", "decline") and principal.role is Role.DOCTOR:
        practitioner = await session.get(Practitioner, appointment.practitioner_id)
        if practitioner is None or practitioner.membership_id != principal.membership_id:
            raise PermissionDenied("Only the practitioner asked can approve this booking.")
    if appointment.status not in allowed_from:
        raise Conflict(f"Cannot {action.replace('_', ' ')} an appointment that is {appointment.status}.")
    now = utcnow()
    if action == "check_in" and now < appointment.starts_at - CHECK_IN_EARLIEST:
        raise Conflict("Check-in opens two hours before the appointment.")
    if action == "no_show" and now < appointment.ends_at + NO_SHOW_GRACE:
        raise Conflict("A no-show can be marked 15 minutes after the appointment's end.")
    appointment.status = target
    appointment.version += 1
    if action == "check_in":
        appointment.checked_in_at = now
    await session.flush()
    await emit(session, principal.tenant_id, EVENTS[action], event_payload(appointment))
    if action == "decline":
        await offer_freed_slot(session, principal, appointment)
    await audit.record(
        session, principal.tenant_id, f"scheduling.appointment.{action}", actor=_actor(principal),
        target_type="appointment", target_id=appointment.id, patient_id=appointment.patient_id,
    )  # fmt: skip
    return appointment


@periodic
async def release_expired_holds(session: AsyncSession) -> int:
    """Mark holds past their expiry as expired (the slot was free for others already)."""
    result = await session.execute(
        update(Appointment)
        .where(Appointment.status == "held", Appointment.hold_expires_at < utcnow())
        .values(status="expired")
    )
    return result.rowcount or 0


SYSTEM_ACTOR = audit.Actor(None, "system")


async def mark_no_shows(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> int:
    """The system's no-show: confirmed appointments of one tenant whose end plus the grace period has
    passed become ``no_show`` (audited with the system as actor, ``appointment.no_show`` emitted). Run by
    the worker's schedule on an owner session; safe to run twice (rows are locked and re-checked)."""
    rows = (
        await session.execute(
            select(Appointment)
            .where(Appointment.tenant_id == tenant_id, Appointment.status == "confirmed",
                   Appointment.ends_at + NO_SHOW_GRACE <= now)
            .order_by(Appointment.ends_at)
            .with_for_update(skip_locked=True)
        )
    ).scalars().all()  # fmt: skip
    for appointment in rows:
        appointment.status = "no_show"
        appointment.version += 1
        await session.flush()
        await emit(session, tenant_id, EVENTS["no_show"], event_payload(appointment))
        await audit.record(
            session, tenant_id, "scheduling.appointment.no_show", actor=SYSTEM_ACTOR, target_type="appointment",
            target_id=appointment.id, patient_id=appointment.patient_id, details={"automatic": True},
        )  # fmt: skip
    return len(rows)
