"""Appointment lists: the organisation's (front desk, doctors) and a patient's own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.pagination import PageRequest, finish, paginate
from carebase.identity.principal import Principal
from carebase.patients.models import Patient
from carebase.scheduling.models import Appointment, Dependent, WaitlistEntry

SORTS = {"starts_at": Appointment.starts_at}


@dataclass(frozen=True, slots=True)
class AppointmentFilter:
    since: datetime | None = None
    until: datetime | None = None
    practitioner_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    status: str | None = None


async def list_appointments(
    session: AsyncSession, principal: Principal, page: PageRequest, f: AppointmentFilter
) -> tuple[list[Appointment], str | None]:
    query = select(Appointment).where(Appointment.status.not_in(("expired",)))
    if f.since:
        query = query.where(Appointment.starts_at >= f.since)
    if f.until:
        query = query.where(Appointment.starts_at < f.until)
    if f.practitioner_id:
        query = query.where(Appointment.practitioner_id == f.practitioner_id)
    if f.location_id:
        query = query.where(Appointment.location_id == f.location_id)
    if f.patient_id:
        query = query.where(Appointment.patient_id == f.patient_id)
    if f.status:
        query = query.where(Appointment.status == f.status)
    rows = list((await session.execute(paginate(query, page, sorts=SORTS, default_sort="starts_at",
                                                id_column=Appointment.id))).scalars())  # fmt: skip
    kept, cursor = finish(rows, page, "starts_at")
    patients = sorted({str(a.patient_id) for a in kept})
    if patients:
        await audit.record(
            session, principal.tenant_id, "scheduling.appointments.listed",
            actor=audit.Actor(principal.user_id, principal.role), details={"patient_ids": patients},
        )  # fmt: skip
    return kept, cursor


def _mine(principal: Principal):  # type: ignore[no-untyped-def]
    own = select(Patient.id).where(Patient.user_id == principal.user_id)
    dependents = select(Dependent.patient_id).where(Dependent.guardian_user_id == principal.user_id)
    return or_(Appointment.patient_id.in_(own), Appointment.patient_id.in_(dependents))


async def my_appointments(session: AsyncSession, principal: Principal, *, upcoming: bool) -> list[Appointment]:
    query = select(Appointment).where(_mine(principal), Appointment.status != "expired")
    if upcoming:
        query = query.where(Appointment.ends_at >= utcnow()).order_by(Appointment.starts_at)
    else:
        query = query.where(Appointment.ends_at < utcnow()).order_by(Appointment.starts_at.desc())
    return list((await session.execute(query.limit(100))).scalars())


async def my_waitlist(session: AsyncSession, principal: Principal) -> list[WaitlistEntry]:
    rows = await session.execute(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.requested_by_user_id == principal.user_id, WaitlistEntry.status.in_(("waiting", "offered"))
        )
        .order_by(WaitlistEntry.created_at)
    )
    return list(rows.scalars())


async def waitlist(
    session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID | None
) -> list[WaitlistEntry]:
    query = select(WaitlistEntry).where(WaitlistEntry.status.in_(("waiting", "offered")))
    if practitioner_id:
        query = query.where(WaitlistEntry.practitioner_id == practitioner_id)
    return list((await session.execute(query.order_by(WaitlistEntry.created_at).limit(500))).scalars())
