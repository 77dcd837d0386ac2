"""The availability cache: finished JSON answers per (scope, practitioner, service, first day, days).

Free slots change when a practitioner's appointments, holds, templates or exceptions change, or
when something the whole tenant shares does (holidays, services, locations, practitioners, the
organisation). Each such commit is announced (``core.invalidation``): ``p:<tenant>:<practitioner>``
starts a new generation of that practitioner, ``a:``/``o:<tenant>`` one of the tenant. An entry is
served only while both generations it was computed under are current, so a reader that raced a
writer never stores what it read before the change (it takes the generations *before* it reads).

Time changes answers too, without any write: a hold lapses, a slot comes within the minimum notice.
An entry therefore also expires at the earliest of: the first hold in the window lapsing, its first
slot coming within the notice, the first slot left out beyond the booking horizon coming within it,
and ``TTL`` seconds (the bound on a missed announcement). A change of the horizon itself is an ``o:``
announcement. While the invalidation listener is disconnected nothing is served from here.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from datetime import datetime

from carebase.core import invalidation
from carebase.directory.models import Practitioner, PractitionerService, Service
from carebase.scheduling.availability import MIN_NOTICE, Availability
from carebase.scheduling.gencache import GenerationCache, Snapshot
from carebase.scheduling.models import Appointment, Holiday, ScheduleException, ScheduleTemplate
from carebase.tenancy.models import Location

TTL = 120.0

__all__ = ["TTL", "AvailabilityCache", "Snapshot"]


class AvailabilityCache(GenerationCache[bytes]):
    def __init__(self, source: invalidation.Invalidation, max_entries: int = 2_000) -> None:
        super().__init__(source, max_entries, name="availability", kind="p")
        # A practitioner's tenant never changes: learnt once, it lets a public read take its snapshot first.
        self._tenant_of: dict[uuid.UUID, uuid.UUID] = {}

    def tenant_of(self, practitioner_id: uuid.UUID) -> uuid.UUID | None:
        return self._tenant_of.get(practitioner_id)

    def learn_tenant(self, practitioner_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
        if len(self._tenant_of) > 100_000:
            self._tenant_of.clear()
        self._tenant_of[practitioner_id] = tenant_id

    def put(self, key: Hashable, body: bytes, result: Availability, tenant_id: uuid.UUID, snapshot: Snapshot,
            now: datetime) -> None:  # fmt: skip
        """Keep an answer computed from data read after ``snapshot`` was taken, until it may change."""
        seconds = TTL
        if result.slots:
            seconds = min(seconds, (min(s.starts_at for s in result.slots) - MIN_NOTICE - now).total_seconds())
        if result.next_hold_expiry is not None:
            seconds = min(seconds, (result.next_hold_expiry - now).total_seconds())
        if result.next_opening is not None:
            seconds = min(seconds, (result.next_opening - now).total_seconds())
        self.store(key, body, tenant_id, result.practitioner_id, snapshot, seconds)


def _practitioner(row: Appointment) -> list[tuple[str, ...]]:
    return [("p", str(row.tenant_id), str(row.practitioner_id))]


def _schedule(row: ScheduleTemplate | ScheduleException) -> list[tuple[str, ...]]:
    """Free time changed, and the schedule itself (``s:``, which the hold rules cache follows)."""
    return [("p", str(row.tenant_id), str(row.practitioner_id)), ("s", str(row.tenant_id), str(row.practitioner_id))]


def _tenant(row: Holiday | Service | PractitionerService | Practitioner | Location) -> list[tuple[str, ...]]:
    return [("a", str(row.tenant_id))]


invalidation.track_orm_changes(Appointment, _practitioner)
for _model in (ScheduleTemplate, ScheduleException):
    invalidation.track_orm_changes(_model, _schedule)
for _model in (Holiday, Service, PractitionerService, Practitioner, Location):
    invalidation.track_orm_changes(_model, _tenant)
