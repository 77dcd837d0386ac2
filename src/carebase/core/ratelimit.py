"""Rate limits: fixed windows per key, in memory by default, in Redis when configured.

``limit`` strings are ``"COUNT/SECONDS"``. ``hit`` counts one attempt and says whether it is
allowed and, if not, how many seconds until the window resets (for ``Retry-After``)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from carebase.core.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    seconds: int

    @classmethod
    def parse(cls, spec: str) -> Limit:
        count, seconds = spec.split("/")
        return cls(int(count), int(seconds))


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: Limit) -> tuple[bool, int]: ...
    async def reset(self, key: str) -> None: ...


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str, limit: Limit) -> tuple[bool, int]:
        now = time.monotonic()
        reset_at, count = self._windows.get(key, (0.0, 0))
        if now >= reset_at:
            reset_at, count = now + limit.seconds, 0
        count += 1
        self._windows[key] = (reset_at, count)
        if len(self._windows) > 100_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
        return count <= limit.count, max(1, math.ceil(reset_at - now))

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisRateLimiter:
    def __init__(self, url: str, prefix: str = "carebase:rl:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._prefix = prefix

    async def hit(self, key: str, limit: Limit) -> tuple[bool, int]:
        k = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(k)
            pipe.expire(k, limit.seconds, nx=True)
            pipe.ttl(k)
            count, _, ttl = await pipe.execute()
        return int(count) <= limit.count, max(1, int(ttl))

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def close(self) -> None:
        await self._redis.aclose()


async def enforce(limiter: RateLimiter, key: str, spec: str) -> None:
    allowed, retry_after = await limiter.hit(key, Limit.parse(spec))
    if not allowed:
        raise RateLimited(retry_after, "Too many attempts. Try again later.")


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
