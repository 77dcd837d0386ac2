"""Directory cache keys and their invalidation.

- Public profiles: ``dir:<tenant>:profile:<generation of dir:ver:<tenant>>:<practitioner>``.
- Search spans tenants: ``dir:search:<generation of dir:ver:search>:<hash of the filters>``.
- A practitioner's tenant (never changes): ``dir:pt:<practitioner>``.

Any committed directory change of a tenant starts a new generation of that tenant and of search
(``invalidate_after_commit``). Entries live ``TTL`` seconds, which also bounds how stale
``next_free_at`` (maintained by scheduling) can be in a cached answer; scheduling may call
``invalidate_after_commit`` too when it wants search to see a new slot at once.

In-process caches switch generation inside the commit callback. Redis needs a round trip: the
callback queues the tenant and schedules a flush, and the management API awaits ``flush()`` after
the commit and before the response, so the client that made a change never reads the old answer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref

from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core import cache as core_cache
from carebase.core.uow import after_commit

log = logging.getLogger("carebase.directory.cache")

TTL = 60
SEARCH_SCOPE = "dir:ver:search"


def tenant_scope(tenant_id: uuid.UUID | str) -> str:
    return f"dir:ver:{tenant_id}"


def search_key(generation: str, digest: str) -> str:
    return f"dir:search:{generation}:{digest}"


def profile_key(tenant_id: uuid.UUID | str, generation: str, practitioner_id: uuid.UUID) -> str:
    return f"dir:{tenant_id}:profile:{generation}:{practitioner_id}"


def tenant_of_key(practitioner_id: uuid.UUID) -> str:
    return f"dir:pt:{practitioner_id}"


_pending: set[str] = set()
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
_tasks: set[asyncio.Task[None]] = set()


def _scopes(tenant_id: uuid.UUID | str) -> list[str]:
    return [tenant_scope(tenant_id), SEARCH_SCOPE]


def _on_commit(tenant_id: uuid.UUID) -> None:
    cache = core_cache.current()
    if cache.local:
        for scope in _scopes(tenant_id):
            cache.new_generation_now(scope)  # type: ignore[attr-defined]
        return
    _pending.update(_scopes(tenant_id))
    try:
        task = asyncio.get_running_loop().create_task(flush())
    except RuntimeError:  # no loop (a synchronous caller): the next flush takes it
        return
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def invalidate_after_commit(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Start new cache generations for this tenant and for search once (and if) the transaction commits."""
    marked: set[uuid.UUID] = session.info.setdefault("directory_invalidate", set())
    if tenant_id in marked:
        return
    marked.add(tenant_id)

    def done() -> None:
        session.info.pop("directory_invalidate", None)
        _on_commit(tenant_id)

    after_commit(session, done)


async def flush() -> None:
    """Apply queued generation changes (Redis); waits for a flush already under way."""
    lock = _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        while _pending:
            scope = _pending.pop()
            try:
                await core_cache.current().new_generation(scope)
            except Exception:
                log.exception("cache invalidation failed", extra={"scope": scope})
