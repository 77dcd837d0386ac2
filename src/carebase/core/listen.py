"""Long-lived subscriptions that reconnect by themselves: the base of the realtime bus (PostgreSQL or
Redis) and of cache invalidation (PostgreSQL LISTEN).

A listener runs ``_listen`` until its connection drops, then reconnects with backoff (up to 5 s).
``start`` returns once it is first connected (or raises the first connection error). What was sent
while a listener was away is not replayed: on reconnection it calls ``on_gap`` so that its owner can
resynchronise (clients re-fetch, caches empty themselves)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

import asyncpg

from carebase.core.bootstrap import asyncpg_dsn

log = logging.getLogger("carebase.listen")

OnMessage = Callable[[bytes], None]
OnGap = Callable[[], None]


class Supervised(ABC):
    """Runs ``_listen`` forever, reconnecting with backoff; ``start`` returns once first connected."""

    name = "listener"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        #: False while disconnected (after the first connection): owners may stop trusting caches.
        self.connected = False

    async def start(self, on_message: OnMessage, on_gap: OnGap) -> None:
        self._task = asyncio.create_task(self._run(on_message, on_gap), name=f"listen-{self.name}")
        ready = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait({ready, self._task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            ready.cancel()
            self._task.result()  # raises the first connection error
        if not self._ready.is_set():
            ready.cancel()
            raise RuntimeError(f"the {self.name} listener did not connect")

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
                log.warning("listener disconnected; reconnecting", extra={"listener": self.name, "error": repr(exc)})
            finally:
                self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _connected(self, first: bool, on_gap: OnGap) -> None:
        self.connected = True
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


class PgListener(Supervised):
    """LISTEN on one PostgreSQL channel (any role of the database may listen)."""

    name = "postgresql"

    def __init__(self, url: str, channel: str) -> None:
        super().__init__()
        self._dsn = asyncpg_dsn(url)
        self.channel = channel

    async def _listen(self, on_message: OnMessage, connected: Callable[[], None]) -> None:
        conn = await asyncpg.connect(self._dsn)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda *_: lost.set())
            await conn.add_listener(self.channel, lambda _c, _pid, _ch, payload: on_message(payload.encode()))
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
        raise ConnectionError(f"PostgreSQL listener connection lost ({self.channel})")
