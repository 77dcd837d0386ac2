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

import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from carebase.core import invalidation
from carebase.core.metrics import CACHE
from carebase.directory.models import Practitioner, PractitionerService, Service
from carebase.scheduling.availability import MIN_NOTICE, Availability
from carebase.scheduling.models import Appointment, Holiday, ScheduleException, ScheduleTemplate
from carebase.tenancy.models import Location

TTL = 120.0
_HIT, _MISS = CACHE.labels("availability", "hit"), CACHE.labels("availability", "miss")

Snapshot = tuple[int, int, int]  # (cache epoch, tenant generation, practitioner generation)


@dataclass(slots=True)
class _Entry:
    body: bytes
    tenant: str
    practitioner: str
    snapshot: Snapshot
    expires: float


class AvailabilityCache:
    def __init__(self, source: invalidation.Invalidation, max_entries: int = 2_000) -> None:
        self._source = source
        self._max = max_entries
        self._data: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._tenants: dict[str, int] = {}
        self._practitioners: dict[tuple[str, str], int] = {}
        self._epoch = 0
        # A practitioner's tenant never changes: learnt once, it lets a public read take its snapshot first.
        self._tenant_of: dict[uuid.UUID, uuid.UUID] = {}
        source.attach(self)

    def tenant_of(self, practitioner_id: uuid.UUID) -> uuid.UUID | None:
        return self._tenant_of.get(practitioner_id)

    def learn_tenant(self, practitioner_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
        if len(self._tenant_of) > 100_000:
            self._tenant_of.clear()
        self._tenant_of[practitioner_id] = tenant_id

    def snapshot(self, tenant_id: uuid.UUID | str, practitioner_id: uuid.UUID | str) -> Snapshot:
        t, p = str(tenant_id), str(practitioner_id)
        return self._epoch, self._tenants.get(t, 0), self._practitioners.get((t, p), 0)

    def get(self, key: Hashable) -> bytes | None:
        entry = self._data.get(key)
        if entry is None or not self._source.live:
            _MISS.inc()
            return None
        if entry.expires <= time.monotonic() or entry.snapshot != self.snapshot(entry.tenant, entry.practitioner):
            del self._data[key]
            _MISS.inc()
            return None
        self._data.move_to_end(key)
        _HIT.inc()
        return entry.body

    def put(self, key: Hashable, body: bytes, result: Availability, tenant_id: uuid.UUID, snapshot: Snapshot,
            now: datetime) -> None:  # fmt: skip
        """Keep an answer computed from data read after ``snapshot`` was taken, until it may change."""
        t, p = str(tenant_id), str(result.practitioner_id)
        if not self._max or not self._source.live or snapshot != self.snapshot(t, p):
            return  # something changed while it was computed
        seconds = TTL
        if result.slots:
            seconds = min(seconds, (min(s.starts_at for s in result.slots) - MIN_NOTICE - now).total_seconds())
        if result.next_hold_expiry is not None:
            seconds = min(seconds, (result.next_hold_expiry - now).total_seconds())
        if result.next_opening is not None:
            seconds = min(seconds, (result.next_opening - now).total_seconds())
        if seconds <= 0:
            return
        self._data[key] = _Entry(body, t, p, snapshot, time.monotonic() + seconds)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def invalidate(self, kind: str, ids: tuple[str, ...]) -> None:
        if kind == "p" and len(ids) == 2:
            key = (ids[0], ids[1])
            self._practitioners[key] = self._practitioners.get(key, 0) + 1
        elif kind in ("a", "o") and ids:
            self._tenants[ids[0]] = self._tenants.get(ids[0], 0) + 1

    def clear(self) -> None:
        self._epoch += 1
        self._data.clear()
        self._tenants.clear()
        self._practitioners.clear()


def _practitioner(row: Appointment | ScheduleTemplate | ScheduleException) -> list[tuple[str, ...]]:
    return [("p", str(row.tenant_id), str(row.practitioner_id))]


def _tenant(row: Holiday | Service | PractitionerService | Practitioner | Location) -> list[tuple[str, ...]]:
    return [("a", str(row.tenant_id))]


for _model in (Appointment, ScheduleTemplate, ScheduleException):
    invalidation.track_orm_changes(_model, _practitioner)
for _model in (Holiday, Service, PractitionerService, Practitioner, Location):
    invalidation.track_orm_changes(_model, _tenant)
