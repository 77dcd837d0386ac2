"""The handler registry: who consumes which outbox topic, and the periodic housekeeping hooks.

Three handler flavours, all idempotent and all exactly-once in effect:

- ``@handler("topic")``: ``async fn(conn: asyncpg.Connection, event: dict)``. Runs inside a transaction on the
  worker's (owner) connection that also records the delivery in ``outbox_deliveries``.
- ``@handler("topic", session=True)``: ``async fn(session: AsyncSession, event: dict)``. Runs in an owner
  ``AsyncSession`` transaction that also records the delivery.
- ``@handler("topic", batch=True)``: ``async fn(conn: asyncpg.Connection, events: list[dict])``. Gets every event
  of a claimed batch it handles (across its topics) in one transaction with their delivery records, so it can do
  set-based work: one query for the whole batch, one refresh per practitioner however many events name it. If it
  raises, the runner tries again one event at a time, so one bad event does not hold the others back.

Either way a handler's work and its delivery records commit together: a retried event skips the
handlers that already succeeded, and a crash mid-handler rolls both back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

ConnHandler = Callable[[asyncpg.Connection, dict[str, Any]], Awaitable[None]]
SessionHandler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]
Handler = ConnHandler  # the original flavour's type, kept for existing imports


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    name: str
    fn: Callable[..., Awaitable[None]]
    session: bool = False
    batch: bool = False


# topic -> handlers, in registration order. ``HANDLERS[topic]`` yields the functions (compatible with
# the first version of this registry); ``SPECS`` has the details the runner needs.
HANDLERS: dict[str, list[Callable[..., Awaitable[None]]]] = {}
SPECS: dict[str, list[HandlerSpec]] = {}

Periodic = Callable[[AsyncSession], Awaitable[int]]
# Housekeeping run on every worker cycle with an owner session. Each must be idempotent and safe
# with several workers (SKIP LOCKED). Calendar-driven work belongs in ``cron`` instead.
PERIODIC: list[Periodic] = []


def periodic(fn: Periodic) -> Periodic:
    PERIODIC.append(fn)
    return fn


def handler_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def handler(
    topic: str, *, session: bool = False, batch: bool = False, name: str | None = None
) -> Callable[[Any], Any]:
    """Register ``fn`` for ``topic``. ``name`` (default: module.qualname) keys its delivery records: keep it
    stable across releases, or events retried after an upgrade run the handler again. A batch handler registered
    for several topics under one name gets their events together."""
    if session and batch:
        raise ValueError("a batch handler gets the worker's connection, not a session")

    def register(fn: Any) -> Any:
        spec = HandlerSpec(name or handler_name(fn), fn, session, batch)
        specs = SPECS.setdefault(topic, [])
        if any(s.name == spec.name for s in specs):
            return fn  # a module imported twice registers once
        specs.append(spec)
        HANDLERS.setdefault(topic, []).append(fn)
        return fn

    return register


def unregister(topic: str) -> None:
    """Remove every handler of ``topic`` (tests)."""
    SPECS.pop(topic, None)
    HANDLERS.pop(topic, None)
