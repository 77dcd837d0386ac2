"""What a hold checks that does not depend on who books, kept per serve process: the practitioner's schedule
rules, the service's terms and the booking horizon, per (tenant, practitioner, service, UTC day).

They change only when someone edits a schedule (``s:<tenant>:<practitioner>``, migration 0017) or something
the whole tenant shares: holidays, services, locations, practitioners (``a:<tenant>``) or the organisation's
settings (``o:<tenant>``). Each such commit is announced, and starts a new generation of the practitioner's
schedule or of the tenant; an entry is used only while both generations it was loaded under are current, and
the generations are taken *before* the load, so a load that raced an edit is never kept. As for the
availability cache (``avcache``), nothing is served while the invalidation listener is disconnected, and an
entry lives at most ``TTL`` seconds (the bound on a missed announcement).

Free time is not here: whether the slot is taken is the ``no_double_booking`` constraint's to decide, in the
hold's own statement, and so are the checks on the patient and the booker's active holds (``app_hold_place``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from carebase.core import invalidation
from carebase.scheduling.availability import MIN_NOTICE, ScheduleRules, parse_json, schedule_rules
from carebase.scheduling.gencache import GenerationCache, Snapshot
from carebase.scheduling.slots import Slot, compute_slots

TTL = 120.0

Key = tuple[uuid.UUID, uuid.UUID, uuid.UUID, date]  # tenant, practitioner, service, UTC day


_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class HoldRules:
    active: bool
    horizon_days: int
    service: tuple[int, int, str, str, str] | None  # duration, price, currency, mode, payment
    schedule: ScheduleRules
    day: date  # the UTC day these rules cover (with the days either side)
    # service length -> {start: the schedule's slots starting then}, built on first use
    _slots: dict[int, dict[datetime, list[Slot]]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_row(cls, row: Any, day: date) -> HoldRules:
        service = parse_json(row["service"])
        return cls(bool(row["active"]), int(row["horizon_days"]), tuple(service) if service else None,  # type: ignore[arg-type]
                   schedule_rules(row), day)  # fmt: skip

    def slot(self, starts_at: datetime, duration: int, location_id: uuid.UUID | None, now: datetime) -> Slot | None:
        """The schedule's slot of ``duration`` minutes starting at ``starts_at`` (at ``location_id`` if given),
        bookings aside, if it is still far enough ahead. ``starts_at`` must fall on ``day`` (UTC): its local
        day, wherever the location is, is then one of the three computed."""
        if starts_at < now + MIN_NOTICE:
            return None
        by_start = self._slots.get(duration)
        if by_start is None:
            rules, by_start = self.schedule, {}
            for s in compute_slots(
                sessions=rules.sessions, extras=rules.extras, time_off=rules.time_off, busy=[],
                holidays=rules.holidays, first_day=self.day - timedelta(days=1),
                last_day=self.day + timedelta(days=1), duration_minutes=duration, not_before=_EARLIEST,
            ):  # fmt: skip
                by_start.setdefault(s.starts_at, []).append(s)
            self._slots[duration] = by_start
        return next((s for s in by_start.get(starts_at, ()) if location_id in (None, s.location_id)), None)


class HoldRulesCache(GenerationCache[HoldRules]):
    def __init__(self, source: invalidation.Invalidation, max_entries: int = 2_000) -> None:
        super().__init__(source, max_entries, name="hold_rules", kind="s")

    def put(self, key: Key, rules: HoldRules, snapshot: Snapshot) -> None:
        self.store(key, rules, key[0], key[1], snapshot, TTL)
