"""The search API's fast path: cached pages are found from the raw query string (known parameters only),
and whatever misses the cache is checked exactly as FastAPI checked declared query parameters."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text

from carebase.core import cache as core_cache
from carebase.core.cache import MemoryCache
from carebase.directory import search as directory_search
from tests.api.helpers import assert_problem, field_errors
from tests.directory.conftest import Market, make_market, search
from tests.factories import Factory

URL = "/api/v1/directory/search"


async def _city_of_one_doctor(factory: Factory, name: str) -> tuple[str, tuple[Market, uuid.UUID]]:
    market = await make_market(factory)
    pid = await market.doctor(name, specialties=["ent"])
    async with factory.owner() as s:
        city = (await s.execute(text("SELECT city FROM directory_listings WHERE practitioner_id = :p"),
                                {"p": pid})).scalar_one()  # fmt: skip
    return city, (market, pid)


async def test_bad_input_is_422_even_when_the_valid_query_is_cached(factory: Factory, client: httpx.AsyncClient):
    city, _ = await _city_of_one_doctor(factory, "Dr. Fast Path")
    assert (await client.get(URL, params={"city": city})).status_code == 200  # now cached
    bad = [
        ({"city": city, "limit": "abc"}, "limit", "int_parsing"),
        ({"city": city, "q": "a"}, "q", "string_too_short"),
        ({"city": city, "lat": "91", "lon": "0"}, "lat", "less_than_equal"),
        ({"city": city, "mode": "phone"}, "mode", "literal_error"),
        ({"city": city, "available_before": "tomorrow"}, "available_before", "date_from_datetime_parsing"),
        ({"city": city, "currency": "inr"}, "currency", "string_pattern_mismatch"),
        ({"city": city, "limit": "51"}, "limit", "value_error"),  # the service's check, after validation
    ]
    for params, field, kind in bad:
        for _ in range(2):  # an invalid query is never cached: the second answer is the same 422
            r = await client.get(URL, params=params)
            body = assert_problem(r, 422)
            assert field in field_errors(body), (params, r.text)
            (error,) = [e for e in body["errors"] if e["loc"][-1] == field]
            assert error["type"] == kind and error["loc"][0] == "query", error
            assert "input" not in error  # submitted values are never echoed


async def test_every_field_problem_is_reported_at_once(client: httpx.AsyncClient):
    r = await client.get(URL, params={"radius_km": "abc", "lat": "x", "q": "a", "limit": "z", "mode": "m"})
    assert set(field_errors(assert_problem(r, 422))) == {"radius_km", "lat", "q", "limit", "mode"}


async def test_repeated_parameter_last_one_wins(client: httpx.AsyncClient):
    # As Starlette reads query parameters; the key must not let the other order reuse an answer.
    assert "q" in field_errors(assert_problem(await client.get(f"{URL}?q=ab&q=c"), 422))
    assert (await client.get(f"{URL}?q=c&q=ab")).status_code == 200
    assert "q" in field_errors(assert_problem(await client.get(f"{URL}?q=ab&q=c"), 422))


async def test_nul_characters_are_field_errors_not_server_errors(client: httpx.AsyncClient):
    for field in ("q", "city"):
        r = await client.get(f"{URL}?{field}=ab%00cd")
        assert field in field_errors(assert_problem(r, 422))


async def test_unknown_parameters_and_order_share_one_cached_answer(factory: Factory, client: httpx.AsyncClient):
    city, (market, pid) = await _city_of_one_doctor(factory, "Dr. One Entry")
    cache = core_cache.current()
    first = await client.get(URL, params={"city": city, "specialty": "ent"})
    assert [i["name"] for i in first.json()["items"]] == ["Dr. One Entry"]
    entries = len(cache) if isinstance(cache, MemoryCache) else None
    for params in ({"specialty": "ent", "city": city}, {"city": city, "specialty": "ent", "utm_source": "x"},
                   {"city": city, "specialty": "ent", "utm_source": "y", "page": "2"}):  # fmt: skip
        again = await client.get(URL, params=params)
        assert again.status_code == 200 and again.content == first.content
    if entries is not None:
        assert len(cache) == entries  # unknown parameters made no new entry
    # A directory change reaches every spelling of the query at once.
    r = await client.patch(f"/api/v1/practitioners/{pid}", json={"display_name": "Dr. Renamed"},
                           headers=market.headers)  # fmt: skip
    assert r.status_code == 200
    for params in ({"city": city, "specialty": "ent"}, {"specialty": "ent", "city": city, "utm_source": "x"}):
        assert [i["name"] for i in (await search(client, **params))["items"]] == ["Dr. Renamed"]


async def test_specialties_are_kept_per_process(client: httpx.AsyncClient):
    first = await client.get("/api/v1/directory/specialties")
    directory_search.forget_specialties()
    second = await client.get("/api/v1/directory/specialties")
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert (await client.get("/api/v1/directory/specialties")).content == first.content


async def test_openapi_still_documents_the_search_parameters(client: httpx.AsyncClient):
    operation = (await client.get("/openapi.json")).json()["paths"][URL]["get"]
    names = [p["name"] for p in operation["parameters"]]
    assert set(names) == directory_search.QUERY_FIELDS and len(names) == len(set(names))
    assert all(p["in"] == "query" and not p["required"] for p in operation["parameters"])
    q = next(p for p in operation["parameters"] if p["name"] == "q")
    assert q["description"] == "Name, specialty or condition"
    assert {"minLength": 2, "maxLength": 100, "type": "string"} in q["schema"]["anyOf"]
    assert set(operation["responses"]) == {"200", "422"}
