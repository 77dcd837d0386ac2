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
from dataclasses import dataclass
from datetime import date
from typing import Any

from carebase.core import invalidation
from carebase.scheduling.availability import ScheduleRules, parse_json, schedule_rules
from carebase.scheduling.gencache import GenerationCache, Snapshot

TTL = 120.0

Key = tuple[uuid.UUID, uuid.UUID, uuid.UUID, date]  # tenant, practitioner, service, UTC day


@dataclass(frozen=True, slots=True)
class HoldRules:
    active: bool
    horizon_days: int
    service: tuple[int, int, str, str, str] | None  # duration, price, currency, mode, payment
    schedule: ScheduleRules

    @classmethod
    def from_row(cls, row: Any) -> HoldRules:
        service = parse_json(row["service"])
        return cls(bool(row["active"]), int(row["horizon_days"]), tuple(service) if service else None,  # type: ignore[arg-type]
                   schedule_rules(row))  # fmt: skip


class HoldRulesCache(GenerationCache[HoldRules]):
    def __init__(self, source: invalidation.Invalidation, max_entries: int = 2_000) -> None:
        super().__init__(source, max_entries, name="hold_rules", kind="s")

    def put(self, key: Key, rules: HoldRules, snapshot: Snapshot) -> None:
        self.store(key, rules, key[0], key[1], snapshot, TTL)
