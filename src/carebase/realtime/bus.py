"""The fan-out bus between the worker that publishes live events and every ``serve`` process that
holds WebSockets: Redis pub/sub when ``CAREBASE_REDIS_URL`` is set, else PostgreSQL LISTEN/NOTIFY.

A bus message is one JSON text: ``{"id", "seq", "tenant_id", "topic", "type", "data"}``. NOTIFY
payloads are limited to 8000 bytes; our data are ids and statuses (clients fetch details over
HTTP), and a message that would not fit is sent without its data (``"truncated": true``).

Listeners reconnect by themselves (backoff up to 5 s). Messages published while a listener was
away are not replayed by the bus: on reconnection the listener calls ``on_gap`` and the hub tells
every client to resynchronise (clients re-fetch their view)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg
import orjson

from carebase.core.bootstrap import asyncpg_dsn

log = logging.getLogger("carebase.realtime")

CHANNEL = "carebase_realtime"
NOTIFY_LIMIT = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes and more

OnMessage = Callable[[bytes], None]
OnGap = Callable[[], None]


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


class _Supervised(ABC):
    """Runs ``_listen`` forever, reconnecting with backoff; ``start`` returns once first connected."""

    name = "bus"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self, on_message: OnMessage, on_gap: OnGap) -> None:
        self._task = asyncio.create_task(self._run(on_message, on_gap), name=f"realtime-{self.name}")
        ready = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait({ready, self._task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            ready.cancel()
            self._task.result()  # raises the first connection error
        if not self._ready.is_set():
            ready.cancel()
            raise RuntimeError(f"the realtime {self.name} bus did not connect")

    async def _run(self, on_message: OnMessage, on_gap: OnGap) -> None:
        delay = 0.1
        first = True
        while True:
            try:
                await self._listen(on_message, functools.partial(self._connected, first, on_gap))
                first = False
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if first and not self._ready.is_set():
                    raise
                first = False
                log.warning("realtime bus disconnected; reconnecting", extra={"bus": self.name, "error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _connected(self, first: bool, on_gap: OnGap) -> None:
        if first:
            self._ready.set()
        else:
            on_gap()

    @abstractmethod
    async def _listen(self, on_message: OnMessage, connected: Callable[[], None]) -> None:
        """Subscribe and forward messages until the connection drops (each backend's own)."""

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


class PostgresBus(_Supervised):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        self._dsn = asyncpg_dsn(url)

    async def _listen(self, on_message: OnMessage, connected: Callable[[], None]) -> None:
        conn = await asyncpg.connect(self._dsn)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda *_: lost.set())
            await conn.add_listener(CHANNEL, lambda _c, _pid, _ch, payload: on_message(payload.encode()))
            connected()
            while not lost.is_set():
                # A cheap liveness check: a dead server or network shows up here within 30 s.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=30)
                if not lost.is_set():
                    await conn.execute("SELECT 1", timeout=10)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        raise ConnectionError("PostgreSQL listener connection lost")


class RedisBus(_Supervised):
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
