"""Setting up a bookable practitioner for booking tests: a doctor with a profile, a service and a
weekly template at the tenant's location (as the database owner)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carebase.directory.models import Practitioner, PractitionerService, Service
from carebase.scheduling.models import ScheduleTemplate
from tests.factories import Factory, TenantInfo, UserInfo
from tests.scheduling.schedule_helpers import appointment


@dataclass
class Bookable:
    tenant: TenantInfo
    doctor: UserInfo
    practitioner_id: uuid.UUID
    service_id: uuid.UUID
    location_id: uuid.UUID


async def make_bookable(
    factory: Factory,
    owner: async_sessionmaker[AsyncSession],
    tenant: TenantInfo | None = None,
    *,
    tz: str = "Asia/Kolkata",
    start: time = time(9, 0),
    end: time = time(13, 0),
    weekdays: range = range(7),
    duration: int = 15,
    approves_bookings: bool = False,
    valid_from: date | None = None,
) -> Bookable:
    tenant = tenant or await factory.tenant(tz=tz)
    doctor = await factory.user(tenant, "doctor")
    async with owner() as s, s.begin():
        practitioner = Practitioner(
            tenant_id=tenant.id, membership_id=doctor.membership_id, display_name="Dr. Test",
            approves_bookings=approves_bookings,
        )  # fmt: skip
        service = Service(
            tenant_id=tenant.id, name="Consultation", duration_minutes=duration, price_minor=60000, currency="INR",
            mode="in_person",
        )  # fmt: skip
        s.add_all([practitioner, service])
        await s.flush()
        s.add(PractitionerService(tenant_id=tenant.id, practitioner_id=practitioner.id, service_id=service.id))
        for weekday in weekdays:
            s.add(
                ScheduleTemplate(
                    tenant_id=tenant.id, practitioner_id=practitioner.id, location_id=tenant.location_id,
                    weekday=weekday, start_time=start, end_time=end, slot_minutes=duration,
                    valid_from=valid_from or date.today() - timedelta(days=400),  # noqa: DTZ011
                )
            )  # fmt: skip
        return Bookable(tenant, doctor, practitioner.id, service.id, tenant.location_id)


async def book_directly(
    owner: async_sessionmaker[AsyncSession], b: Bookable, patient_id: uuid.UUID, starts_at: datetime,
    *, booked_by: uuid.UUID | None = None, **fields: Any,
) -> uuid.UUID:
    """A 15-minute appointment with this practitioner, written straight into the database (no API): set-up for
    tests that need a booking or a hold as it would stand. ``fields`` as ``schedule_helpers.appointment``."""
    return await appointment(
        owner, b.tenant, practitioner_id=b.practitioner_id, patient_id=patient_id, service_id=b.service_id,
        location_id=b.location_id, booked_by=booked_by or b.doctor.id, starts_at=starts_at,
        **{"minutes": 15, "price_minor": 60000, **fields},
    )
