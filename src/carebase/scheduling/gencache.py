"""The bookkeeping both scheduling caches share (``avcache``, ``holdrules``): entries stamped with the
generations they were computed under, and served only while those are current.

A committed change is announced on ``carebase_invalidate`` (``core.invalidation``): ``<kind>:<tenant>:<practitioner>``
starts a new generation of that practitioner (each cache says which kind concerns it), ``a:``/``o:<tenant>`` one
of the tenant. Readers take a snapshot of the generations *before* they read the database, so an answer that
raced a writer is never stored. Nothing is served while the invalidation listener is disconnected, and a gap
(its reconnection) empties the cache and starts a new epoch.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from carebase.core import invalidation
from carebase.core.metrics import CACHE

V = TypeVar("V")
Snapshot = tuple[int, int, int]  # (cache epoch, tenant generation, practitioner generation)


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    tenant: str
    practitioner: str
    snapshot: Snapshot
    expires: float


class GenerationCache(Generic[V]):
    def __init__(self, source: invalidation.Invalidation, max_entries: int, *, name: str, kind: str) -> None:
        self._source = source
        self._max = max_entries
        self._kind = kind
        self._data: OrderedDict[Hashable, _Entry[V]] = OrderedDict()
        self._tenants: dict[str, int] = {}
        self._practitioners: dict[tuple[str, str], int] = {}
        self._epoch = 0
        self._hit, self._miss = CACHE.labels(name, "hit"), CACHE.labels(name, "miss")
        source.attach(self)

    def snapshot(self, tenant_id: Any, practitioner_id: Any) -> Snapshot:
        t, p = str(tenant_id), str(practitioner_id)
        return self._epoch, self._tenants.get(t, 0), self._practitioners.get((t, p), 0)

    def get(self, key: Hashable) -> V | None:
        entry = self._data.get(key)
        if entry is None or not self._source.live:
            self._miss.inc()
            return None
        if entry.expires <= time.monotonic() or entry.snapshot != self.snapshot(entry.tenant, entry.practitioner):
            del self._data[key]
            self._miss.inc()
            return None
        self._data.move_to_end(key)
        self._hit.inc()
        return entry.value

    def store(self, key: Hashable, value: V, tenant_id: Any, practitioner_id: Any, snapshot: Snapshot,
              seconds: float) -> None:  # fmt: skip
        """Keep ``value``, computed from data read after ``snapshot`` was taken, for at most ``seconds``."""
        t, p = str(tenant_id), str(practitioner_id)
        if not self._max or not self._source.live or snapshot != self.snapshot(t, p) or seconds <= 0:
            return  # something changed while it was computed
        self._data[key] = _Entry(value, t, p, snapshot, time.monotonic() + seconds)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def invalidate(self, kind: str, ids: tuple[str, ...]) -> None:
        if kind == self._kind and len(ids) == 2:
            key = (ids[0], ids[1])
            self._practitioners[key] = self._practitioners.get(key, 0) + 1
        elif kind in ("a", "o") and ids:
            self._tenants[ids[0]] = self._tenants.get(ids[0], 0) + 1

    def clear(self) -> None:
        self._epoch += 1
        self._data.clear()
        self._tenants.clear()
        self._practitioners.clear()
