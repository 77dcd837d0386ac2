"""Availability: load what constrains a practitioner's time in one round trip, then compute the
free slots (``scheduling.slots``). Core SQL on the raw driver: this is the hottest read we have."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.clock import utcnow
from carebase.core.db import driver_connection
from carebase.core.errors import NotFound, ValidationFailed
from carebase.scheduling.slots import ExtraSession, Session, Slot, compute_slots
from carebase.tenancy.service import DEFAULT_POLICY

MAX_DAYS = 31
# How long before a slot's start it can still be booked online.
MIN_NOTICE = timedelta(minutes=5)

# $1 practitioner, $2 service, $3/$4 first/last local day, $5/$6 the UTC window, $7 the default booking horizon.
# The horizon is the practitioner's organisation's (the caller's own under RLS; the worker reads as the owner,
# without a tenant context).
_LOAD_SQL = """
SELECT
  (SELECT p.is_active FROM practitioners p WHERE p.id = $1) AS active,
  coalesce((SELECT (o.settings->>'booking_horizon_days')::int FROM organizations o
             WHERE o.id = (SELECT p.tenant_id FROM practitioners p WHERE p.id = $1)), $7::int) AS horizon_days,
  (SELECT json_build_object('duration', s.duration_minutes, 'price', s.price_minor, 'currency', s.currency,
                            'mode', s.mode, 'payment', s.payment, 'name', s.name)
     FROM services s JOIN practitioner_services ps ON ps.service_id = s.id
    WHERE ps.practitioner_id = $1 AND s.id = $2 AND s.is_active) AS service,
  (SELECT coalesce(json_agg(json_build_array(t.weekday, t.start_time, t.end_time, t.slot_minutes, t.valid_from,
                                              t.valid_until, t.location_id, l.timezone)), '[]')
     FROM schedule_templates t JOIN locations l ON l.id = t.location_id
    WHERE t.practitioner_id = $1 AND t.is_active AND l.is_active AND t.valid_from <= $4::date
      AND (t.valid_until IS NULL OR t.valid_until >= $3::date)) AS templates,
  (SELECT coalesce(json_agg(json_build_array(e.kind, e.starts_at, e.ends_at, e.slot_minutes, e.location_id)), '[]')
     FROM schedule_exceptions e
    WHERE e.practitioner_id = $1 AND e.starts_at < $6 AND e.ends_at > $5) AS exceptions,
  (SELECT coalesce(json_agg(json_build_array(h.day, h.location_id)), '[]')
     FROM holidays h WHERE h.day BETWEEN $3::date AND $4::date) AS holidays,
  (SELECT coalesce(json_agg(json_build_array(a.starts_at, a.ends_at)), '[]')
     FROM appointments a
    WHERE a.practitioner_id = $1 AND a.starts_at < $6 AND a.ends_at > $5
      AND a.status IN ('held', 'requested', 'confirmed', 'checked_in', 'in_consultation')
      AND NOT (a.status = 'held' AND a.hold_expires_at < now())) AS busy,
  (SELECT min(a.hold_expires_at) FROM appointments a
    WHERE a.practitioner_id = $1 AND a.starts_at < $6 AND a.ends_at > $5 AND a.status = 'held'
      AND a.hold_expires_at >= now()) AS next_hold_expiry
"""


@dataclass(frozen=True, slots=True)
class ServiceTerms:
    duration_minutes: int
    price_minor: int
    currency: str
    mode: str
    payment: str
    name: str


@dataclass(frozen=True, slots=True)
class Availability:
    practitioner_id: uuid.UUID
    service: ServiceTerms
    first_day: date
    last_day: date
    slots: list[Slot]
    timezones: dict[uuid.UUID, str]
    # When a hold in the window lapses and its slot frees up by itself (no write announces it).
    next_hold_expiry: datetime | None = None
    # When the first free slot left out for being beyond the booking horizon comes within it.
    next_opening: datetime | None = None


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True)
class ScheduleRules:
    """A practitioner's schedule for a window, parsed from the JSON arrays the load statements return
    (``templates``, ``exceptions``, ``holidays``: see ``_LOAD_SQL``)."""

    sessions: list[Session]
    timezones: dict[uuid.UUID, str]
    extras: list[ExtraSession]
    time_off: list[tuple[datetime, datetime]]
    holidays: set[tuple[date, uuid.UUID | None]]


def schedule_rules(row: Any) -> ScheduleRules:
    timezones: dict[uuid.UUID, str] = {}
    sessions = []
    for weekday, start, end, slot, valid_from, valid_until, location_id, tz in parse_json(row["templates"]):
        loc = uuid.UUID(location_id)
        timezones[loc] = tz
        sessions.append(
            Session(
                weekday=weekday, start=time.fromisoformat(start), end=time.fromisoformat(end), slot_minutes=slot,
                valid_from=date.fromisoformat(valid_from),
                valid_until=date.fromisoformat(valid_until) if valid_until else None,
                location_id=loc, tz=_zone(tz),
            )
        )  # fmt: skip
    extras, time_off = [], []
    for kind, starts, ends, slot, location_id in parse_json(row["exceptions"]):
        if kind == "extra" and location_id:
            extras.append(ExtraSession(_ts(starts), _ts(ends), slot, uuid.UUID(location_id)))
        elif kind == "time_off":
            time_off.append((_ts(starts), _ts(ends)))
    holidays = {(date.fromisoformat(d), uuid.UUID(loc) if loc else None) for d, loc in parse_json(row["holidays"])}
    return ScheduleRules(sessions, timezones, extras, time_off, holidays)


async def availability(
    session: AsyncSession,
    *,
    practitioner_id: uuid.UUID,
    service_id: uuid.UUID,
    first_day: date,
    days: int = 7,
    now: datetime | None = None,
) -> Availability:
    """Free slots of one practitioner for one service over ``days`` local days from ``first_day``.
    The session must be in the practitioner's tenant context."""
    return await availability_on(
        await driver_connection(session), practitioner_id=practitioner_id, service_id=service_id,
        first_day=first_day, days=days, now=now,
    )  # fmt: skip


async def availability_on(
    conn: asyncpg.Connection,
    *,
    practitioner_id: uuid.UUID,
    service_id: uuid.UUID,
    first_day: date,
    days: int = 7,
    now: datetime | None = None,
) -> Availability:
    """``availability`` on a bare connection (the worker's, or a request's driver connection)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed.field("days", f"Ask for 1 to {MAX_DAYS} days.")
    last_day = first_day + timedelta(days=days - 1)
    # A window wide enough for every timezone on Earth around the local dates.
    window_start = datetime.combine(first_day - timedelta(days=1), time(), tzinfo=_zone("UTC"))
    window_end = datetime.combine(last_day + timedelta(days=2), time(), tzinfo=_zone("UTC"))
    row = await conn.fetchrow(
        _LOAD_SQL, practitioner_id, service_id, first_day, last_day, window_start, window_end,
        DEFAULT_POLICY["booking_horizon_days"],
    )  # fmt: skip
    assert row is not None
    if not row["active"]:
        raise NotFound("No such practitioner.")
    service = parse_json(row["service"])
    if service is None:
        raise ValidationFailed.field("service_id", "This practitioner does not offer that service.")
    terms = ServiceTerms(
        service["duration"], service["price"], service["currency"], service["mode"], service["payment"], service["name"]
    )
    rules = schedule_rules(row)
    busy = [(_ts(s), _ts(e)) for s, e in parse_json(row["busy"])]
    now = now or utcnow()
    slots = compute_slots(
        sessions=rules.sessions, extras=rules.extras, time_off=rules.time_off, busy=busy, holidays=rules.holidays,
        first_day=first_day, last_day=last_day, duration_minutes=terms.duration_minutes,
        not_before=now + MIN_NOTICE,
    )  # fmt: skip
    # Bookings open ``horizon_days`` ahead: later slots are not offered (a hold or reschedule there is refused).
    horizon = timedelta(days=row["horizon_days"])
    limit = now + horizon
    beyond = [s.starts_at for s in slots if s.starts_at > limit]
    if beyond:
        slots = [s for s in slots if s.starts_at <= limit]
    return Availability(
        practitioner_id, terms, first_day, last_day, slots, rules.timezones, row["next_hold_expiry"],
        min(beyond) - horizon if beyond else None,
    )  # fmt: skip


def beyond_horizon(starts_at: datetime, horizon_days: int, now: datetime) -> ValidationFailed | None:
    """The problem for a booking that starts after the booking horizon (``booking_horizon_days``), if it does."""
    if starts_at <= now + timedelta(days=horizon_days):
        return None
    return ValidationFailed.field("starts_at", f"Bookings open {horizon_days} days ahead; pick an earlier time.")


async def is_free(
    session: AsyncSession,
    *,
    practitioner_id: uuid.UUID,
    service_id: uuid.UUID,
    starts_at: datetime,
    location_id: uuid.UUID | None = None,
) -> tuple[Slot | None, ServiceTerms]:
    """The free slot that starts exactly at ``starts_at`` (at ``location_id`` if given), if any."""
    day = starts_at.date()
    result = await availability(
        session, practitioner_id=practitioner_id, service_id=service_id, first_day=day - timedelta(days=1), days=3
    )
    for slot in result.slots:
        if slot.starts_at == starts_at and (location_id is None or slot.location_id == location_id):
            return slot, result.service
    return None, result.service
