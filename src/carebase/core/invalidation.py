"""Invalidation of in-process caches across processes.

Triggers (migration 0009) NOTIFY ``carebase_invalidate`` when a change that a cache depends on
commits: ``p:<tenant>:<practitioner>``, ``s:<tenant>:<practitioner>`` (the schedule itself, migration 0017),
``a:<tenant>``, ``u:<user>``, ``o:<tenant>``. Every ``serve``
process LISTENs (``Invalidation``) and hands each message to its caches. The writer's own process
also applies ORM changes the moment its session commits (``track_orm_changes``), so a client that
has just written reads its write on the next request without waiting for the notification.

A cache is trusted only while its listener is connected: while it is away nothing can tell the
process about changes, so the caches are bypassed, and emptied when it reconnects (a gap).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

from carebase.core.listen import PgListener

log = logging.getLogger("carebase.invalidation")

CHANNEL = "carebase_invalidate"


class Invalidatable(Protocol):
    def invalidate(self, kind: str, ids: tuple[str, ...]) -> None: ...
    def clear(self) -> None: ...


# Every cache of this process (several apps in one process in tests): local changes reach them all.
_registry: weakref.WeakSet[Any] = weakref.WeakSet()


def apply(kind: str, *ids: str) -> None:
    """Tell every cache of this process that something changed (after it has committed)."""
    for cache in list(_registry):
        try:
            cache.invalidate(kind, ids)
        except Exception:
            log.exception("cache invalidation failed", extra={"kind": kind})


def _on_message(payload: bytes) -> None:
    kind, *ids = payload.decode().split(":")
    apply(kind, *ids)


class Invalidation:
    """The process's listener on ``carebase_invalidate`` and the caches it keeps honest."""

    def __init__(self, url: str) -> None:
        self.listener = PgListener(url, CHANNEL)
        self.listener.name = "invalidation"
        self._caches: list[Invalidatable] = []

    @property
    def live(self) -> bool:
        return self.listener.connected

    def attach(self, cache: Invalidatable) -> None:
        self._caches.append(cache)
        _registry.add(cache)

    def _gap(self) -> None:
        for cache in self._caches:
            cache.clear()

    async def start(self) -> None:
        await self.listener.start(_on_message, self._gap)

    async def stop(self) -> None:
        await self.listener.close()
        self._gap()


# --- the writer's own process: ORM changes, applied at commit --------------------------------------

# model class -> function of an instance giving (kind, ids...) to apply after commit
Describe = Callable[[Any], Iterable[tuple[str, ...]]]
_described: dict[type, Describe] = {}


def track_orm_changes(model: type, describe: Describe) -> None:
    """Apply ``describe(instance)`` after the commit of any session that inserted, changed or
    deleted an instance of ``model`` (the NOTIFY from the database reaches other processes)."""
    _described[model] = describe


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context: Any) -> None:
    if not _described:
        return
    pending: set[tuple[str, ...]] | None = None
    for instance in (*session.new, *session.dirty, *session.deleted):
        describe = _described.get(type(instance))
        if describe is not None:
            if pending is None:
                pending = session.info.setdefault("invalidate", set())
            pending.update(describe(instance))


@event.listens_for(Session, "after_commit")
def _apply_pending(session: Session) -> None:
    for kind, *ids in session.info.pop("invalidate", ()):
        apply(kind, *ids)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop("invalidate", None)
