"""Waitlist: patients wait for a practitioner and a service within a date range; when a slot frees up,
the first matching waiter gets a hold and an offer with a deadline; when the offer lapses, the next one does.

Joining checks every id inside the caller's tenant (row-level security): the practitioner exists and is
active, offers the service, and the patient is the caller's own or a dependent (patients) or a patient of
this organisation (staff). The foreign keys alone would accept another tenant's ids.

A freed time is offered only to a waiter whose service fits in it (the same service, or one no longer),
and only if it is a free slot of the schedule for that service (``availability.is_free``, the check a
reschedule uses: templates, time off, holidays, the notice, busy time)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.errors import CarebaseError, Conflict, NotFound, PermissionDenied, ValidationFailed
from carebase.core.outbox import emit
from carebase.directory.models import Service
from carebase.identity.principal import Principal
from carebase.identity.roles import Role
from carebase.scheduling.availability import ServiceTerms, is_free
from carebase.scheduling.dependents import can_book_for_sql
from carebase.scheduling.holds import event_payload, insert_exclusive, mark_cancelled
from carebase.scheduling.models import Appointment, WaitlistEntry
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.slots import Slot
from carebase.tenancy.models import Location

OFFER_MINUTES = 30
MAX_RANGE_DAYS = 90
# How many waiters a freed slot is tried on, in turn (one schedule check per distinct service).
MAX_CANDIDATES = 20

# What joining needs to know, in one statement inside the tenant (RLS): the practitioner's state, whether
# they offer the service (active), and whether the patient may be put on the list by this caller.
_JOIN_CHECK = text(f"""
SELECT
  (SELECT p.is_active FROM practitioners p WHERE p.id = :practitioner) AS active,
  EXISTS (SELECT 1 FROM services s JOIN practitioner_services ps ON ps.service_id = s.id
           WHERE ps.practitioner_id = :practitioner AND s.id = :service AND s.is_active) AS offered,
  CASE WHEN :is_patient THEN {can_book_for_sql("CAST(:patient AS uuid)", "CAST(:user AS uuid)")}
       ELSE EXISTS (SELECT 1 FROM patients WHERE id = :patient) END AS patient_ok
""")  # noqa: S608 (expressions only)


def _actor(principal: Principal | None) -> audit.Actor | None:
    return audit.Actor(principal.user_id, principal.role) if principal else None


async def join(
    session: AsyncSession,
    principal: Principal,
    *,
    patient_id: uuid.UUID,
    practitioner_id: uuid.UUID,
    service_id: uuid.UUID,
    earliest: date,
    latest: date,
) -> WaitlistEntry:
    if latest < earliest:
        raise ValidationFailed.field("latest_date", "The end of the range is before its start.")
    if earliest < utcnow().date() - timedelta(days=1):
        raise ValidationFailed.field("earliest_date", "The range is in the past.")
    if (latest - earliest).days > MAX_RANGE_DAYS:
        raise ValidationFailed.field("latest_date", f"Wait for at most {MAX_RANGE_DAYS} days at a time.")
    is_patient = principal.role is Role.PATIENT
    check = (
        await session.execute(
            _JOIN_CHECK, {"practitioner": practitioner_id, "service": service_id, "patient": patient_id,
                          "user": principal.user_id, "is_patient": is_patient},
        )
    ).one()  # fmt: skip
    if not check.patient_ok:
        if is_patient:
            raise PermissionDenied("You can wait only for yourself and the family members linked to your account.")
        raise ValidationFailed.field("patient_id", "No such patient in this organisation.")
    if not check.active:
        raise NotFound("No such practitioner.")
    if not check.offered:
        raise ValidationFailed.field("service_id", "This practitioner does not offer that service.")
    duplicate = (
        await session.execute(
            select(WaitlistEntry.id).where(
                WaitlistEntry.patient_id == patient_id, WaitlistEntry.practitioner_id == practitioner_id,
                WaitlistEntry.status.in_(("waiting", "offered")),
            )
        )
    ).first()  # fmt: skip
    if duplicate:
        raise Conflict("This patient is already waiting for this practitioner.")
    entry = WaitlistEntry(
        tenant_id=principal.tenant_id, patient_id=patient_id, practitioner_id=practitioner_id,
        service_id=service_id, requested_by_user_id=principal.user_id, earliest_date=earliest, latest_date=latest,
    )  # fmt: skip
    session.add(entry)
    await session.flush()
    await audit.record(
        session, principal.tenant_id, "scheduling.waitlist.joined", actor=_actor(principal),
        target_type="waitlist_entry", target_id=entry.id, patient_id=patient_id,
    )  # fmt: skip
    return entry


async def leave(session: AsyncSession, principal: Principal, entry_id: uuid.UUID) -> WaitlistEntry:
    entry = await session.get(WaitlistEntry, entry_id)
    if (
        entry is None
        or (principal.role is Role.PATIENT and entry.requested_by_user_id != principal.user_id)
        or (principal.role is not Role.PATIENT and not principal.can(P.WAITLIST_MANAGE))
    ):
        raise NotFound("No such waitlist entry.")
    if entry.status not in ("waiting", "offered"):
        raise Conflict(f"This entry is already {entry.status}.")
    entry.status = "cancelled"
    await audit.record(
        session, principal.tenant_id, "scheduling.waitlist.left", actor=_actor(principal),
        target_type="waitlist_entry", target_id=entry.id, patient_id=entry.patient_id,
    )  # fmt: skip
    await _withdraw_offer(session, principal, entry)
    return entry


async def _withdraw_offer(session: AsyncSession, principal: Principal, entry: WaitlistEntry) -> None:
    """Leaving with an offer still open: its hold is released at once and the time goes to the next
    waiter, rather than sitting blocked until the offer lapses."""
    if entry.offered_appointment_id is None:
        return
    hold = await session.get(Appointment, entry.offered_appointment_id, with_for_update=True)
    if hold is None or hold.status != "held":
        return  # already confirmed (then it is a booking, cancelled on its own) or lapsed
    await mark_cancelled(session, principal, hold, "Waitlist offer withdrawn", waitlist_entry_id=str(entry.id))
    await offer_freed_slot(session, principal, hold)


async def offer_freed_slot(
    session: AsyncSession, principal: Principal | None, freed: Appointment
) -> Appointment | None:
    """Offer the time ``freed`` gave back to the first matching waiter: a hold in their name, for their
    service, that lasts ``OFFER_MINUTES``. A waiter matches when their range covers the local date and their
    service fits in the freed time, and the time is a free slot of the schedule for that service. Returns
    the hold, or None if nobody waits for it or the time is not bookable (nobody's entry is used up)."""
    if freed.starts_at <= utcnow():
        return None
    await session.flush()  # the freed status, before the schedule check reads busy time
    location = await session.get(Location, freed.location_id)
    local_day = freed.starts_at.astimezone(ZoneInfo(location.timezone if location else "UTC")).date()
    freed_minutes = int((freed.ends_at - freed.starts_at).total_seconds() // 60)
    entries = (
        await session.execute(
            select(WaitlistEntry)
            .join(Service, Service.id == WaitlistEntry.service_id)
            .where(
                WaitlistEntry.practitioner_id == freed.practitioner_id, WaitlistEntry.status == "waiting",
                WaitlistEntry.earliest_date <= local_day, WaitlistEntry.latest_date >= local_day,
                or_(WaitlistEntry.service_id == freed.service_id, Service.duration_minutes <= freed_minutes),
            )
            .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
            .limit(MAX_CANDIDATES)
            .with_for_update(of=WaitlistEntry, skip_locked=True)
        )
    ).scalars().all()  # fmt: skip
    checked: dict[uuid.UUID, tuple[Slot, ServiceTerms] | None] = {}
    for entry in entries:
        if entry.service_id not in checked:
            checked[entry.service_id] = await _bookable(session, freed, entry.service_id)
        found = checked[entry.service_id]
        if found is not None:
            return await _offer(session, principal, freed, entry, *found)
    return None


async def _bookable(
    session: AsyncSession, freed: Appointment, service_id: uuid.UUID
) -> tuple[Slot, ServiceTerms] | None:
    """The free slot of the schedule at the freed time and place for ``service_id``, with its terms; None
    when the schedule has no such slot (time off, a holiday, an ended template, the notice, taken) or the
    practitioner no longer offers the service."""
    try:
        slot, terms = await is_free(
            session, practitioner_id=freed.practitioner_id, service_id=service_id, starts_at=freed.starts_at,
            location_id=freed.location_id,
        )  # fmt: skip
    except CarebaseError:  # practitioner inactive, service no longer offered
        return None
    return (slot, terms) if slot is not None else None


async def _offer(
    session: AsyncSession, principal: Principal | None, freed: Appointment, entry: WaitlistEntry, slot: Slot,
    terms: ServiceTerms,
) -> Appointment | None:  # fmt: skip
    expires = utcnow() + timedelta(minutes=OFFER_MINUTES)
    hold = Appointment(
        tenant_id=freed.tenant_id, practitioner_id=freed.practitioner_id, patient_id=entry.patient_id,
        service_id=entry.service_id, location_id=slot.location_id, starts_at=slot.starts_at, ends_at=slot.ends_at,
        status="held", hold_expires_at=expires, source="waitlist", booked_by_user_id=entry.requested_by_user_id,
        mode=terms.mode, price_minor=terms.price_minor, currency=terms.currency,
        payment_status="pending" if terms.payment == "online" else "at_desk",
    )  # fmt: skip
    try:
        await insert_exclusive(session, hold)
    except Conflict:
        return None  # someone took the time in the meantime
    entry.status = "offered"
    entry.offered_appointment_id = hold.id
    entry.offer_expires_at = expires
    await audit.record(
        session, freed.tenant_id, "scheduling.waitlist.offered", actor=_actor(principal),
        target_type="waitlist_entry", target_id=entry.id, patient_id=entry.patient_id,
    )  # fmt: skip
    await emit(
        session, freed.tenant_id, "waitlist.offered",
        event_payload(hold) | {"waitlist_entry_id": str(entry.id), "offer_expires_at": expires.isoformat(),
                               "user_id": str(entry.requested_by_user_id)},
    )  # fmt: skip
    return hold


async def settle_offers(session: AsyncSession) -> int:
    """Close offers: booked ones become ``booked``; lapsed ones expire and their slot goes to the
    next waiter. Run by the worker's cron schedule (``jobs.scheduled``) (and callable any time; it is idempotent)."""
    now = utcnow()
    rows = (
        await session.execute(
            select(WaitlistEntry, Appointment)
            .join(Appointment, Appointment.id == WaitlistEntry.offered_appointment_id)
            .where(WaitlistEntry.status == "offered")
            .with_for_update(of=WaitlistEntry, skip_locked=True)
        )
    ).all()
    handled = 0
    for entry, hold in rows:
        if hold.status in ("requested", "confirmed", "checked_in", "in_consultation", "completed"):
            entry.status = "booked"
        elif hold.status == "held" and entry.offer_expires_at and entry.offer_expires_at > now:
            continue
        else:
            entry.status = "expired"
            if hold.status == "held":
                hold.status = "expired"
            await session.flush()
            await offer_freed_slot(session, None, hold)
        handled += 1
    return handled
