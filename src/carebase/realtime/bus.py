"""The fan-out bus between the worker that publishes live events and every ``serve`` process that
holds WebSockets: Redis pub/sub when ``CAREBASE_REDIS_URL`` is set, else PostgreSQL LISTEN/NOTIFY.

A bus message is one JSON text: ``{"id", "seq", "tenant_id", "topic", "type", "data"}``. NOTIFY
payloads are limited to 8000 bytes; our data are ids and statuses (clients fetch details over
HTTP), and a message that would not fit is sent without its data (``"truncated": true``).

Listeners reconnect by themselves (``core.listen``). Messages published while a listener was away
are not replayed by the bus: on reconnection the listener calls ``on_gap`` and the hub tells every
client to resynchronise (clients re-fetch their view)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg
import orjson

from carebase.core.listen import OnGap, OnMessage, PgListener, Supervised

log = logging.getLogger("carebase.realtime")

CHANNEL = "carebase_realtime"
NOTIFY_LIMIT = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes and more


def encode(message: dict[str, Any]) -> bytes:
    raw = orjson.dumps(message)
    if len(raw) > NOTIFY_LIMIT:
        raw = orjson.dumps({**message, "data": {}, "truncated": True})
    return raw


# --- publishing (the worker) -----------------------------------------------------------------------

# One client per (URL, event loop): tests run several apps, each on its own loop, in one process.
_redis_clients: dict[tuple[str, int], Any] = {}


def _redis(url: str) -> Any:
    key = (url, id(asyncio.get_running_loop()))
    client = _redis_clients.get(key)
    if client is None:
        import redis.asyncio as redis

        client = _redis_clients[key] = redis.from_url(url)
    return client


async def publish(conn: asyncpg.Connection, messages: list[dict[str, Any]], redis_url: str | None) -> None:
    """Send messages to every listening process. With PostgreSQL the NOTIFY rides on ``conn``: if
    ``conn`` is inside a transaction the messages leave when (and if) it commits."""
    if not messages:
        return
    payloads = [encode(m) for m in messages]
    if redis_url:
        client = _redis(redis_url)
        async with client.pipeline(transaction=False) as pipe:
            for payload in payloads:
                pipe.publish(CHANNEL, payload)
            await pipe.execute()
    else:
        await conn.execute(
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", CHANNEL, [p.decode() for p in payloads]
        )


async def close_publishers() -> None:
    """Close this event loop's publishing clients."""
    loop = id(asyncio.get_running_loop())
    for key in [k for k in _redis_clients if k[1] == loop]:
        with contextlib.suppress(Exception):
            await _redis_clients.pop(key).aclose()


# --- listening (every serve process) ---------------------------------------------------------------


class Bus(Protocol):
    async def start(self, on_message: OnMessage, on_gap: OnGap) -> None: ...
    async def close(self) -> None: ...


class PostgresBus(PgListener):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__(url, CHANNEL)


class RedisBus(Supervised):
    name = "redis"

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url

    async def _listen(self, on_message: OnMessage, connected: Callable[[], None]) -> None:
        import redis.asyncio as redis

        client = redis.from_url(self._url, health_check_interval=30)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            connected()
            while True:
                message = await pubsub.get_message(timeout=30)
                if message is not None and message.get("type") == "message":
                    data = message["data"]
                    on_message(data if isinstance(data, bytes) else str(data).encode())
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()


def make_bus(redis_url: str | None, listen_url: str) -> Bus:
    """``listen_url``: any PostgreSQL URL of the database (LISTEN needs no privileges)."""
    return RedisBus(redis_url) if redis_url else PostgresBus(listen_url)
