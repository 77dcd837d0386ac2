"""A small cache: bytes under string keys with a TTL, in process memory (bounded, LRU) or in Redis.

Invalidation is by *generations*: a reader puts the current generation of a scope (``dir:ver:<tenant>``)
into its keys, and a writer starts a new generation after commit. Old entries are never deleted; they
are simply not asked for again and expire by TTL (memory: evicted by LRU first). A generation is a
random token, not a counter, so a lost generation key (eviction, restart of Redis) starts a fresh
namespace instead of reusing an old one.

The process has one cache, installed by the app's lifespan (``install``) and reached with ``current()``
from services that must invalidate after commit without knowing about FastAPI."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from typing import Protocol

GENERATION_TTL = 7 * 24 * 3600  # a generation outlives any entry keyed by it


class Cache(Protocol):
    #: True when ``new_generation_now`` works synchronously (in-process cache).
    local: bool

    async def get(self, key: str) -> bytes | None: ...
    async def get_many(self, keys: list[str]) -> list[bytes | None]: ...
    async def set(self, key: str, value: bytes, ttl: int) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def generation(self, key: str) -> str:
        """The current generation token of a scope; created if missing."""
        ...

    async def new_generation(self, key: str) -> str: ...
    async def close(self) -> None: ...


def _token() -> str:
    return secrets.token_hex(6)


class MemoryCache:
    """In-process, bounded (least recently used entries go first), per-entry TTL."""

    local = True

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        # Generations live apart from entries so that LRU pressure never evicts them.
        self._generations: dict[str, str] = {}

    def _get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    async def get(self, key: str) -> bytes | None:
        return self._get(key)

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        return [self._get(k) for k in keys]

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        self._data[key] = (time.monotonic() + ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def generation(self, key: str) -> str:
        return self._generations.setdefault(key, _token())

    def new_generation_now(self, key: str) -> str:
        token = self._generations[key] = _token()
        return token

    async def new_generation(self, key: str) -> str:
        return self.new_generation_now(key)

    def __len__(self) -> int:
        return len(self._data)

    async def close(self) -> None:
        self._data.clear()


class RedisCache:
    """Shared by every process: entries with ``SET ... EX``, generations with ``SET NX`` / ``SET``."""

    local = False

    def __init__(self, url: str, prefix: str = "carebase:cache:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._redis.get(self._prefix + key)
        return value

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        values: list[bytes | None] = await self._redis.mget([self._prefix + k for k in keys])
        return values

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        await self._redis.set(self._prefix + key, value, ex=ttl)

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def generation(self, key: str) -> str:
        k = self._prefix + key
        current = await self._redis.get(k)
        if current is None:
            # Two processes may race to create it: SET NX keeps the first, both read it back.
            await self._redis.set(k, _token(), ex=GENERATION_TTL, nx=True)
            current = await self._redis.get(k)
        return current.decode() if isinstance(current, bytes) else str(current)

    async def new_generation(self, key: str) -> str:
        token = _token()
        await self._redis.set(self._prefix + key, token, ex=GENERATION_TTL)
        return token

    async def close(self) -> None:
        await self._redis.aclose()


def make_cache(redis_url: str | None) -> Cache:
    return RedisCache(redis_url) if redis_url else MemoryCache()


_current: Cache | None = None


def install(cache: Cache) -> None:
    global _current
    _current = cache


def current() -> Cache:
    """The process's cache (a memory cache until the app installs one)."""
    global _current
    if _current is None:
        _current = MemoryCache()
    return _current
