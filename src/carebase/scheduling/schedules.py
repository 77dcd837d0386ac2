"""Schedules: weekly templates per practitioner and location, exceptions (time off, extra
sessions) and holidays. Every write is audited and emits ``schedule.changed`` so availability
caches refresh (``practitioner_id`` null: every practitioner of the tenant or location).

Templates hold local wall times read in the location's IANA zone, so a 09:00 session stays at
09:00 across DST changes; exceptions are absolute instants. Overlapping active sessions of one
practitioner are refused by the ``no_overlap`` exclusion constraint, caught in a savepoint."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from carebase.core.outbox import emit
from carebase.directory.models import Practitioner
from carebase.identity.principal import Principal
from carebase.identity.roles import Role
from carebase.scheduling.models import Holiday, ScheduleException, ScheduleTemplate
from carebase.scheduling.schemas_schedules import (
    WEEKDAYS,
    ExceptionCreate,
    HolidayCreate,
    TemplateCreate,
    TemplateUpdate,
)
from carebase.tenancy.models import Location

SCHEDULE_CHANGED = "schedule.changed"


def _actor(principal: Principal) -> audit.Actor:
    return audit.Actor(principal.user_id, principal.role)


async def _changed(
    session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID | None, **extra: Any
) -> None:
    payload: dict[str, Any] = {"practitioner_id": str(practitioner_id) if practitioner_id else None}
    payload |= {k: (str(v) if isinstance(v, uuid.UUID | date) else v) for k, v in extra.items()}
    await emit(session, principal.tenant_id, SCHEDULE_CHANGED, payload)


# --- lookups and checks ---------------------------------------------------------------------------


async def get_practitioner(session: AsyncSession, practitioner_id: uuid.UUID) -> Practitioner:
    """Row-level security hides other tenants' practitioners: they are 404 like unknown ones."""
    practitioner = await session.get(Practitioner, practitioner_id)
    if practitioner is None:
        raise NotFound("No such practitioner.")
    return practitioner


async def managed_practitioner(session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID) -> Practitioner:
    """The practitioner whose schedule ``principal`` may change: hospital admins any, doctors their
    own (the practitioner profile tied to their membership). A refusal is audited and kept."""
    practitioner = await get_practitioner(session, practitioner_id)
    if principal.role is not Role.HOSPITAL_ADMIN and practitioner.membership_id != principal.membership_id:
        await audit.record(
            session, principal.tenant_id, "access.denied", actor=_actor(principal), outcome="denied",
            target_type="practitioner", target_id=practitioner.id,
            details={"reason": "not_own_schedule"},
        )  # fmt: skip
        raise PermissionDenied("Doctors can change only their own schedule.", keep_changes=True)
    return practitioner


async def _location(session: AsyncSession, location_id: uuid.UUID, field: str = "location_id") -> Location:
    location = await session.get(Location, location_id)
    if location is None:
        raise ValidationFailed.field(field, "No such location in this organisation.")
    if not location.is_active:
        raise ValidationFailed.field(field, "This location is closed.")
    try:
        ZoneInfo(location.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # cannot happen: zones are checked on input
        raise ValidationFailed.field(field, f"The location's timezone {location.timezone!r} is unknown.") from exc
    return location


def _describe(t: ScheduleTemplate) -> str:
    until = f" to {t.valid_until}" if t.valid_until else ""
    return f"{WEEKDAYS[t.weekday]}s {t.start_time:%H:%M}-{t.end_time:%H:%M} from {t.valid_from}{until}"


async def _save_template(
    session: AsyncSession, template: ScheduleTemplate, changes: dict[str, Any] | None = None
) -> None:
    """Insert ``template`` (or apply ``changes`` to it) and flush inside a savepoint: an overlap
    refused by the exclusion constraint leaves nothing written. The writes happen inside the
    savepoint on purpose: ``begin_nested`` first flushes whatever is already pending."""
    changes_ = changes or {}
    values = {c: changes_.get(c, getattr(template, c)) for c in _Wanted.__slots__ if c != "id"}
    wanted = _Wanted(id=template.id, **values)
    try:
        async with session.begin_nested():
            if changes is None:
                session.add(template)
            else:
                for key, value in changes.items():
                    setattr(template, key, value)
            await session.flush()
    except IntegrityError as exc:
        if "no_overlap" not in str(exc.orig):
            raise
        clash = await _overlapping(session, wanted)
        where = f" with the {_describe(clash)} session" if clash else " with another session"
        raise Conflict(
            f"This session overlaps{where} of the same practitioner. Change the times or dates, or end the other one.",
            conflicting_template_id=str(clash.id) if clash else None,
        ) from exc


@dataclass(frozen=True, slots=True)
class _Wanted:
    id: uuid.UUID | None
    practitioner_id: uuid.UUID
    weekday: int
    start_time: time
    end_time: time
    valid_from: date
    valid_until: date | None


async def _overlapping(session: AsyncSession, t: _Wanted) -> ScheduleTemplate | None:
    query = select(ScheduleTemplate).where(
        ScheduleTemplate.practitioner_id == t.practitioner_id,
        ScheduleTemplate.weekday == t.weekday,
        ScheduleTemplate.is_active,
        ScheduleTemplate.start_time < t.end_time,
        ScheduleTemplate.end_time > t.start_time,
        ScheduleTemplate.valid_until.is_(None) | (ScheduleTemplate.valid_until >= t.valid_from),
    )
    if t.valid_until is not None:
        query = query.where(ScheduleTemplate.valid_from <= t.valid_until)
    if t.id is not None:
        query = query.where(ScheduleTemplate.id != t.id)
    with session.no_autoflush:
        return (await session.execute(query.limit(1))).scalar_one_or_none()


# --- templates ------------------------------------------------------------------------------------


async def list_templates(
    session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID, *, include_inactive: bool = False
) -> list[ScheduleTemplate]:
    await get_practitioner(session, practitioner_id)
    query = select(ScheduleTemplate).where(ScheduleTemplate.practitioner_id == practitioner_id)
    if not include_inactive:
        query = query.where(ScheduleTemplate.is_active)
    query = query.order_by(ScheduleTemplate.weekday, ScheduleTemplate.start_time, ScheduleTemplate.valid_from)
    return list((await session.execute(query.limit(500))).scalars())


async def create_template(
    session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID, data: TemplateCreate
) -> ScheduleTemplate:
    practitioner = await managed_practitioner(session, principal, practitioner_id)
    if not practitioner.is_active:
        raise Conflict("This practitioner is inactive.")
    await _location(session, data.location_id)
    template = ScheduleTemplate(tenant_id=principal.tenant_id, practitioner_id=practitioner.id, **data.model_dump())
    await _save_template(session, template)
    await _changed(session, principal, practitioner.id, template_id=template.id)
    await audit.record(
        session, principal.tenant_id, "scheduling.template.created", actor=_actor(principal),
        target_type="schedule_template", target_id=template.id, details={"practitioner_id": str(practitioner.id)},
    )  # fmt: skip
    return template


async def _get_template(session: AsyncSession, template_id: uuid.UUID) -> ScheduleTemplate:
    template = await session.get(ScheduleTemplate, template_id)
    if template is None:
        raise NotFound("No such schedule template.")
    return template


async def update_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID, data: TemplateUpdate
) -> ScheduleTemplate:
    template = await _get_template(session, template_id)
    await managed_practitioner(session, principal, template.practitioner_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("location_id", "weekday", "start_time", "end_time", "slot_minutes", "valid_from", "is_active"):
        if key in changes and changes[key] is None:
            raise ValidationFailed.field(key, "This field cannot be empty.")
    merged = {c: changes.get(c, getattr(template, c)) for c in ("start_time", "end_time", "valid_from", "valid_until")}
    if merged["end_time"] <= merged["start_time"]:
        raise ValidationFailed.field("end_time", "end_time must be after start_time.")
    if merged["valid_until"] is not None and merged["valid_until"] < merged["valid_from"]:
        raise ValidationFailed.field("valid_until", "valid_until must be on or after valid_from.")
    if "location_id" in changes:
        await _location(session, changes["location_id"])
    await _save_template(session, template, changes)
    await _changed(session, principal, template.practitioner_id, template_id=template.id)
    await audit.record(
        session, principal.tenant_id, "scheduling.template.updated", actor=_actor(principal),
        target_type="schedule_template", target_id=template.id, details={"fields": sorted(changes)},
    )  # fmt: skip
    return template


async def deactivate_template(session: AsyncSession, principal: Principal, template_id: uuid.UUID) -> None:
    """Templates are ended, not deleted, so past availability stays explainable."""
    template = await _get_template(session, template_id)
    await managed_practitioner(session, principal, template.practitioner_id)
    if not template.is_active:
        return
    template.is_active = False
    await session.flush()
    await _changed(session, principal, template.practitioner_id, template_id=template.id)
    await audit.record(
        session, principal.tenant_id, "scheduling.template.deactivated", actor=_actor(principal),
        target_type="schedule_template", target_id=template.id,
    )  # fmt: skip


# --- exceptions -----------------------------------------------------------------------------------


async def list_exceptions(
    session: AsyncSession,
    principal: Principal,
    practitioner_id: uuid.UUID,
    *,
    after: datetime | None = None,
    before: datetime | None = None,
) -> list[ScheduleException]:
    await get_practitioner(session, practitioner_id)
    query = select(ScheduleException).where(
        ScheduleException.practitioner_id == practitioner_id, ScheduleException.ends_at > (after or utcnow())
    )
    if before is not None:
        query = query.where(ScheduleException.starts_at < before)
    query = query.order_by(ScheduleException.starts_at, ScheduleException.id)
    return list((await session.execute(query.limit(500))).scalars())


async def create_exception(
    session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID, data: ExceptionCreate
) -> ScheduleException:
    practitioner = await managed_practitioner(session, principal, practitioner_id)
    if data.location_id is not None:
        await _location(session, data.location_id)
    exception = ScheduleException(
        tenant_id=principal.tenant_id, practitioner_id=practitioner.id, kind=data.kind,
        starts_at=data.starts_at, ends_at=data.ends_at, location_id=data.location_id,
        slot_minutes=data.slot_minutes, reason=data.reason,
    )  # fmt: skip
    session.add(exception)
    await session.flush()
    await _changed(session, principal, practitioner.id, exception_id=exception.id)
    await audit.record(
        session, principal.tenant_id, "scheduling.exception.created", actor=_actor(principal),
        target_type="schedule_exception", target_id=exception.id,
        details={"practitioner_id": str(practitioner.id), "kind": data.kind},
    )  # fmt: skip
    return exception


async def delete_exception(session: AsyncSession, principal: Principal, exception_id: uuid.UUID) -> None:
    exception = await session.get(ScheduleException, exception_id)
    if exception is None:
        raise NotFound("No such schedule exception.")
    await managed_practitioner(session, principal, exception.practitioner_id)
    practitioner_id = exception.practitioner_id
    await session.delete(exception)
    await session.flush()
    await _changed(session, principal, practitioner_id, exception_id=exception_id)
    await audit.record(
        session, principal.tenant_id, "scheduling.exception.deleted", actor=_actor(principal),
        target_type="schedule_exception", target_id=exception_id, details={"practitioner_id": str(practitioner_id)},
    )  # fmt: skip


# --- holidays -------------------------------------------------------------------------------------


async def list_holidays(
    session: AsyncSession, principal: Principal, *, start: date | None = None, end: date | None = None
) -> list[Holiday]:
    query = select(Holiday).where(Holiday.day >= (start or utcnow().date()))
    if end is not None:
        query = query.where(Holiday.day <= end)
    query = query.order_by(Holiday.day, Holiday.id)
    return list((await session.execute(query.limit(500))).scalars())


async def create_holiday(session: AsyncSession, principal: Principal, data: HolidayCreate) -> Holiday:
    if data.location_id is not None:
        await _location(session, data.location_id)
    duplicate = await session.execute(
        select(Holiday.id).where(Holiday.day == data.day, Holiday.location_id.is_not_distinct_from(data.location_id))
    )
    if duplicate.first() is not None:
        raise Conflict("There is already a holiday on that day here.", errors=[{"loc": ["day"], "msg": "Taken."}])
    holiday = Holiday(tenant_id=principal.tenant_id, **data.model_dump())
    session.add(holiday)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent twin
        raise Conflict("There is already a holiday on that day here.") from exc
    await _changed(session, principal, None, location_id=data.location_id, day=data.day)
    await audit.record(
        session, principal.tenant_id, "scheduling.holiday.created", actor=_actor(principal),
        target_type="holiday", target_id=holiday.id, details={"day": data.day.isoformat()},
    )  # fmt: skip
    return holiday


async def delete_holiday(session: AsyncSession, principal: Principal, holiday_id: uuid.UUID) -> None:
    holiday = await session.get(Holiday, holiday_id)
    if holiday is None:
        raise NotFound("No such holiday.")
    day, location_id = holiday.day, holiday.location_id
    await session.delete(holiday)
    await session.flush()
    await _changed(session, principal, None, location_id=location_id, day=day)
    await audit.record(
        session, principal.tenant_id, "scheduling.holiday.deleted", actor=_actor(principal),
        target_type="holiday", target_id=holiday_id, details={"day": day.isoformat()},
    )  # fmt: skip
