"""The cache: both backends behave alike (TTL, bounds, generations), and a client sees its own change
at once through the cached search and profile, on memory and on Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from carebase.core import cache as core_cache
from carebase.core.cache import MemoryCache, RedisCache
from tests.directory.conftest import make_market, search
from tests.factories import Factory


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[core_cache.Cache]:
    if request.param == "memory":
        cache: core_cache.Cache = MemoryCache(max_entries=3)
    else:
        url = request.getfixturevalue("redis_url")
        cache = RedisCache(url, prefix=f"carebase:test:{uuid.uuid4().hex[:8]}:")
    yield cache
    await cache.close()


async def test_backend_get_set_ttl_and_generations(backend: core_cache.Cache):
    assert await backend.get("a") is None
    await backend.set("a", b"1", ttl=60)
    await backend.set("b", b"2", ttl=1)
    assert await backend.get_many(["a", "b", "c"]) == [b"1", b"2", None]
    await backend.delete("a")
    assert await backend.get("a") is None
    await asyncio.sleep(1.2)
    assert await backend.get("b") is None  # expired
    first = await backend.generation("dir:ver:x")
    assert await backend.generation("dir:ver:x") == first
    second = await backend.new_generation("dir:ver:x")
    assert second != first and await backend.generation("dir:ver:x") == second
    assert await backend.generation("dir:ver:y") != second  # scopes are independent


async def test_memory_cache_is_bounded_and_keeps_generations():
    cache = MemoryCache(max_entries=3)
    generation = await cache.generation("dir:ver:t")
    for i in range(10):
        await cache.set(f"k{i}", b"x", ttl=60)
    assert len(cache) == 3 and await cache.get("k0") is None and await cache.get("k9") == b"x"
    assert await cache.generation("dir:ver:t") == generation  # never evicted by entries


@pytest.fixture(params=["memory", "redis"])
async def app_cache(request: pytest.FixtureRequest, app) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """Run the app with this cache backend for one test, then put the original back."""
    original = core_cache.current()
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        cache: core_cache.Cache = RedisCache(url, prefix=f"carebase:test:{uuid.uuid4().hex[:8]}:")
    else:
        cache = MemoryCache()
    core_cache.install(cache)
    app.state.cache = cache
    yield request.param
    core_cache.install(original)
    app.state.cache = original
    await cache.close()


async def test_a_change_is_visible_at_once_through_the_cache(factory: Factory, client: httpx.AsyncClient,
                                                             app_cache: str):  # fmt: skip
    market = await make_market(factory)
    pid = await market.doctor("Dr. Cached Before", specialties=["ent"])
    city = market.tenant.name  # not a city: look the practitioner up by the listing's city below
    async with factory.owner() as s:
        city = (await s.execute(text("SELECT city FROM directory_listings WHERE practitioner_id = :p"),
                                {"p": pid})).scalar_one()  # fmt: skip
    first = await search(client, city=city)
    assert [i["name"] for i in first["items"]] == ["Dr. Cached Before"]
    profile = (await client.get(f"/api/v1/directory/practitioners/{pid}")).json()
    assert profile["name"] == "Dr. Cached Before"
    # A write behind the service's back is not seen: the answers come from the cache.
    async with factory.owner() as s, s.begin():
        await s.execute(text("UPDATE directory_listings SET practitioner_name = 'Sneaky' WHERE practitioner_id = :p"),
                        {"p": pid})  # fmt: skip
    assert [i["name"] for i in (await search(client, city=city))["items"]] == ["Dr. Cached Before"]
    assert (await client.get(f"/api/v1/directory/practitioners/{pid}")).json()["name"] == "Dr. Cached Before"
    # A change through the service is seen by the very next request.
    r = await client.patch(f"/api/v1/practitioners/{pid}", json={"display_name": "Dr. Cached After"},
                           headers=market.headers)  # fmt: skip
    assert r.status_code == 200
    assert [i["name"] for i in (await search(client, city=city))["items"]] == ["Dr. Cached After"]
    assert (await client.get(f"/api/v1/directory/practitioners/{pid}")).json()["name"] == "Dr. Cached After"
    # Unpublishing, too.
    await client.patch(f"/api/v1/practitioners/{pid}", json={"is_published": False}, headers=market.headers)
    assert (await search(client, city=city))["items"] == []
    assert (await client.get(f"/api/v1/directory/practitioners/{pid}")).status_code == 404


async def test_a_failed_change_keeps_the_cache(factory: Factory, client: httpx.AsyncClient):
    market = await make_market(factory)
    pid = await market.doctor("Dr. Stable")
    generation = await core_cache.current().generation(f"dir:ver:{market.tenant.id}")
    r = await client.put(f"/api/v1/practitioners/{pid}/specialties", json={"codes": ["nope"]}, headers=market.headers)
    assert r.status_code == 422
    assert await core_cache.current().generation(f"dir:ver:{market.tenant.id}") == generation
