"""Free-slot computation, pure: templates (local wall times) + extra sessions − time off − holidays
− busy intervals (appointments and holds) − the past.

Slots are generated in each location's local wall time and converted to UTC one by one with
``zoneinfo``, so a 09:00 session is at 09:00 local on both sides of a DST change; a start that
does not exist locally (the spring-forward gap) is skipped, and an ambiguous one (the autumn
repeat) takes its first occurrence. A slot lasts the service's real duration.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Session:
    """A weekly template row, reduced to what slot generation needs."""

    weekday: int
    start: time
    end: time
    slot_minutes: int
    valid_from: date
    valid_until: date | None
    location_id: uuid.UUID
    tz: ZoneInfo


@dataclass(frozen=True, slots=True)
class ExtraSession:
    starts_at: datetime
    ends_at: datetime
    slot_minutes: int
    location_id: uuid.UUID


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    starts_at: datetime
    ends_at: datetime
    location_id: uuid.UUID


def _local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall time, or None if that wall time does not exist."""
    local = datetime.combine(day, at).replace(tzinfo=tz, fold=0)
    instant = local.astimezone(UTC)
    back = instant.astimezone(tz)
    if (back.hour, back.minute) != (at.hour, at.minute):
        return None  # in the spring-forward gap
    return instant


class _Blocked:
    """Blocked intervals, merged and sorted, so an overlap test is one binary search."""

    def __init__(self, intervals: Iterable[tuple[datetime, datetime]]) -> None:
        merged: list[list[datetime]] = []
        for start, end in sorted(intervals):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def overlaps(self, start: datetime, end: datetime) -> bool:
        # The last interval starting before `end` is the only one that can overlap.
        i = bisect_left(self.starts, end) - 1
        return i >= 0 and self.ends[i] > start


def compute_slots(
    *,
    sessions: Iterable[Session],
    extras: Iterable[ExtraSession],
    time_off: Sequence[tuple[datetime, datetime]],
    busy: Sequence[tuple[datetime, datetime]],
    holidays: set[tuple[date, uuid.UUID | None]],
    first_day: date,
    last_day: date,
    duration_minutes: int,
    not_before: datetime,
) -> list[Slot]:
    """Free slots of ``duration_minutes`` between ``first_day`` and ``last_day`` (local dates,
    inclusive), starting no earlier than ``not_before``."""
    duration = timedelta(minutes=duration_minutes)
    blocked = _Blocked([*time_off, *busy])
    # (start, location) -> None: an ordered set of plain tuples (hashing and sorting them happens in C;
    # Slot objects are made once, at the end).
    found: dict[tuple[datetime, uuid.UUID], None] = {}

    def consider(start: datetime, location_id: uuid.UUID) -> None:
        if start >= not_before and not blocked.overlaps(start, start + duration):
            found[(start, location_id)] = None

    sessions = list(sessions)
    day = first_day
    while day <= last_day:
        weekday = day.weekday()
        for s in sessions:
            if s.weekday != weekday or day < s.valid_from or (s.valid_until and day > s.valid_until):
                continue
            if (day, None) in holidays or (day, s.location_id) in holidays:
                continue
            # Step through the session in local wall-clock minutes. When the UTC offset is the same
            # at both ends of the session (every day but a DST change), one offset serves all slots.
            minute = s.start.hour * 60 + s.start.minute
            end_minute = s.end.hour * 60 + s.end.minute
            first = _local_to_utc(day, s.start, s.tz)
            last = _local_to_utc(day, s.end, s.tz)
            steady = first is not None and last is not None and last - first == timedelta(minutes=end_minute - minute)
            step = timedelta(minutes=s.slot_minutes)
            start = first
            while minute + duration_minutes <= end_minute:
                if not steady:
                    start = _local_to_utc(day, time(minute // 60, minute % 60), s.tz)
                if start is not None:
                    consider(start, s.location_id)
                    if steady:
                        start += step
                minute += s.slot_minutes
        day += timedelta(days=1)

    for extra in extras:
        start = extra.starts_at
        while start + duration <= extra.ends_at:
            consider(start, extra.location_id)
            start += timedelta(minutes=extra.slot_minutes)
    return [Slot(start, start + duration, location_id) for start, location_id in sorted(found)]
