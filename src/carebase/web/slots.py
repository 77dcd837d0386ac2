"""Shared pieces of the booking screens: the week grid behind ``macros/slots.html``, slot values
carried in forms, local day bounds, and the names an appointment card shows (one query per kind)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.directory.models import Practitioner, Service
from carebase.identity.principal import Principal
from carebase.patients.models import Patient
from carebase.scheduling import booking
from carebase.scheduling.availability import Availability, availability
from carebase.scheduling.models import Appointment
from carebase.tenancy.models import Location

WEEK = 7


@dataclass(frozen=True, slots=True)
class SlotCell:
    value: str  # "<UTC ISO start>|<location id>": what the slot button posts
    label: str  # local wall time, "09:15"
    starts_at: datetime


@dataclass
class DayColumn:
    day: date
    slots: list[SlotCell] = field(default_factory=list)

    @property
    def weekday(self) -> str:
        return self.day.strftime("%a")

    @property
    def label(self) -> str:
        return self.day.strftime("%d %b")


@dataclass(frozen=True, slots=True)
class WeekGrid:
    first_day: date
    days: list[DayColumn]
    tz: str
    prev_url: str | None
    next_url: str
    total: int

    @property
    def range_label(self) -> str:
        last = self.days[-1].day
        return f"{self.first_day:%d %b} – {last:%d %b %Y}"


def parse_day(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def today_in(tz: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(tz)).date()


def day_bounds(day: date, tz: str, days: int = 1) -> tuple[datetime, datetime]:
    """The UTC instants at which local ``day`` (and the ``days`` after it) starts and ends."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=days), time(), tzinfo=zone).astimezone(UTC)
    return start, end


def slot_value(starts_at: datetime, location_id: uuid.UUID) -> str:
    return f"{starts_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}|{location_id}"  # no "+": it survives a query string


def parse_slot(value: str) -> tuple[datetime, uuid.UUID] | None:
    """A posted slot value, or None when it was tampered with."""
    try:
        raw_start, raw_location = value.split("|", 1)
        starts_at = datetime.fromisoformat(raw_start)
        if starts_at.tzinfo is None:
            return None
        return starts_at, uuid.UUID(raw_location)
    except ValueError:
        return None


def week_grid(result: Availability, first_day: date, tz: str, path: str, params: dict[str, str],
              today: date) -> WeekGrid:  # fmt: skip
    """Days as columns with their free slots in the location's zone, and links to the weeks around."""
    zones = {loc: ZoneInfo(name) for loc, name in result.timezones.items()}
    columns = {first_day + timedelta(days=i): DayColumn(first_day + timedelta(days=i)) for i in range(WEEK)}
    for slot in result.slots:
        local = slot.starts_at.astimezone(zones.get(slot.location_id, ZoneInfo(tz)))
        column = columns.get(local.date())
        if column is not None:
            column.slots.append(SlotCell(slot_value(slot.starts_at, slot.location_id), local.strftime("%H:%M"),
                                         slot.starts_at))  # fmt: skip
    for column in columns.values():
        column.slots.sort(key=lambda c: c.starts_at)

    def link(day: date) -> str:
        return path + "?" + urlencode(params | {"week": day.isoformat()})

    prev_day = first_day - timedelta(days=WEEK)
    prev_url = link(max(prev_day, today)) if first_day > today else None
    zone_name = next(iter(result.timezones.values()), tz)
    return WeekGrid(first_day, list(columns.values()), zone_name, prev_url, link(first_day + timedelta(days=WEEK)),
                    sum(len(c.slots) for c in columns.values()))  # fmt: skip


# --- what an appointment card shows ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Card:
    a: Appointment
    patient: str
    mrn: str
    practitioner: str
    service: str
    location: str
    tz: str

    @property
    def local_start(self) -> datetime:
        return self.a.starts_at.astimezone(ZoneInfo(self.tz))

    @property
    def local_end(self) -> datetime:
        return self.a.ends_at.astimezone(ZoneInfo(self.tz))


async def names_of(session: AsyncSession, model: Any, ids: set[uuid.UUID], *cols: Any) -> dict[uuid.UUID, Any]:
    """``{id: (col, ...)}`` for the rows of ``model`` with those ids, in one query."""
    found = await session.execute(select(model.id, *cols).where(model.id.in_(ids)))
    return {r[0]: r[1:] for r in found}


async def party_names(session: AsyncSession, rows: list[Any]) -> tuple[dict[uuid.UUID, Any], ...]:
    """For rows naming a patient, a practitioner and a service (appointments, waitlist entries): patients'
    (given name, family name, MRN), practitioners' (display name,) and services' (name,) by id, one query each."""
    patients = await names_of(session, Patient, {r.patient_id for r in rows}, Patient.given_name, Patient.family_name,
                              Patient.mrn)  # fmt: skip
    doctors = await names_of(session, Practitioner, {r.practitioner_id for r in rows}, Practitioner.display_name)
    services = await names_of(session, Service, {r.service_id for r in rows}, Service.name)
    return patients, doctors, services


async def cards(session: AsyncSession, rows: list[Appointment]) -> list[Card]:
    """Names for appointment rows: one query per kind of name, whatever the number of rows."""
    if not rows:
        return []
    patients, doctors, services = await party_names(session, rows)
    locations = await names_of(session, Location, {a.location_id for a in rows}, Location.name, Location.timezone)
    out = []
    for a in rows:
        given, family, mrn = patients.get(a.patient_id, ("", "Unknown patient", ""))
        loc_name, tz = locations.get(a.location_id, ("", "UTC"))
        out.append(Card(a, f"{given} {family}".strip(), mrn, doctors.get(a.practitioner_id, ("",))[0],
                        services.get(a.service_id, ("",))[0], loc_name, tz))  # fmt: skip
    return out


def by_practitioner(items: list[Card]) -> dict[uuid.UUID, list[Card]]:
    grouped: dict[uuid.UUID, list[Card]] = defaultdict(list)
    for card in sorted(items, key=lambda c: c.a.starts_at):
        grouped[card.a.practitioner_id].append(card)
    return grouped


def money(minor: int | None, currency: str) -> str:
    if minor is None:
        return "—"
    symbol = {"INR": "₹", "GBP": "£", "USD": "$", "EUR": "€"}.get(currency, currency + " ")
    major = minor / 100
    return f"{symbol}{major:,.0f}" if minor % 100 == 0 else f"{symbol}{major:,.2f}"


async def reschedule_week(
    session: AsyncSession, principal: Principal, appointment_id: uuid.UUID, week: str | None, path: str,
    *, from_booking_week: bool,
) -> tuple[Card, WeekGrid]:
    """An appointment's card and a week of free slots to move it to (the patient's and the desk's reschedule
    pages). The week asked for, else today's, or the booking's own with ``from_booking_week``; never the past."""
    a = await booking.get_for(session, principal, appointment_id)
    (card,) = await cards(session, [a])
    today = today_in(card.tz)
    first = max(parse_day(week, card.local_start.date() if from_booking_week else today), today)
    result = await availability(session, practitioner_id=a.practitioner_id, service_id=a.service_id,
                                first_day=first, days=7)  # fmt: skip
    return card, week_grid(result, first, card.tz, path, {}, today)
