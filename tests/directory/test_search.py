"""Public search: listing rebuilds, every filter and sort, cursor paging, distance, text, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.api.helpers import assert_problem, field_errors
from tests.directory.conftest import Market, listings, make_market, search, search_all
from tests.factories import Factory

BENGALURU = (12.9716, 77.5946)
MYSURU = (12.2958, 76.6394)  # 128.0 km from Bengaluru (haversine, R = 6371.0088 km)
LONDON = (51.5074, -0.1278)
OXFORD = (51.7520, -1.2577)  # 82.6 km from London


def ids(items: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [i["practitioner_id"] for i in items]


async def test_listing_follows_publication_and_marketplace_flag(factory: Factory, client: httpx.AsyncClient):
    market = await make_market(factory)
    a = await market.doctor("Dr. Listed A")
    b = await market.doctor("Dr. Listed B")
    assert len(await listings(factory, tenant_id=market.tenant.id)) == 2
    await market.next_free(a, datetime(2030, 1, 2, 9, tzinfo=UTC))
    # Unpublishing removes the practitioner; publishing again brings them back.
    r = await client.patch(f"/api/v1/practitioners/{b}", json={"is_published": False}, headers=market.headers)
    assert r.status_code == 200
    assert [r["practitioner_id"] for r in await listings(factory, tenant_id=market.tenant.id)] == [a]
    # A rebuild keeps the next free slot the scheduling context wrote.
    r = await client.patch(f"/api/v1/practitioners/{a}", json={"bio": "New bio"}, headers=market.headers)
    (row,) = await listings(factory, practitioner_id=a)
    assert row["next_free_at"] == datetime(2030, 1, 2, 9, tzinfo=UTC)
    # The marketplace flag off removes every row of the tenant; on again restores them.
    r = await client.patch("/api/v1/organization/policy", json={"marketplace": False}, headers=market.headers)
    assert r.status_code == 200 and r.json()["marketplace"] is False
    assert await listings(factory, tenant_id=market.tenant.id) == []
    r = await client.patch("/api/v1/organization/policy", json={"marketplace": True}, headers=market.headers)
    assert [r["practitioner_id"] for r in await listings(factory, tenant_id=market.tenant.id)] == [a]
    # Renaming the location shows in the listing.
    r = await client.patch(f"/api/v1/locations/{market.tenant.location_id}", json={"city": "Renamed"},
                           headers=market.headers)  # fmt: skip
    assert r.status_code == 200
    (row,) = await listings(factory, practitioner_id=a)
    assert row["city"] == "Renamed"


async def test_new_tenants_do_not_publish_by_default(factory: Factory, client: httpx.AsyncClient):
    market = await make_market(factory, marketplace=False)
    await market.doctor("Dr. Private")
    assert await listings(factory, tenant_id=market.tenant.id) == []
    r = await client.get("/api/v1/organization/policy", headers=market.headers)
    assert r.json()["marketplace"] is False


async def _catalogue(factory: Factory) -> tuple[Market, Market, dict[str, uuid.UUID]]:
    """Two organisations in one (unique) city, five doctors with known prices, languages, modes."""
    city = f"Searchville{uuid.uuid4().hex[:6]}"
    m1 = await make_market(factory, city=city, lat=BENGALURU[0], lon=BENGALURU[1], name=f"Sunrise {city}")
    m2 = await make_market(factory, city=city, lat=MYSURU[0], lon=MYSURU[1], name=f"Lakeside {city}")
    c1 = await m1.service("Consultation", 60000)
    v1 = await m1.service("Video consultation", 40000, mode="video")
    c2 = await m2.service("Consultation", 80000)
    docs = {
        "mehta": await m1.doctor("Dr. Vikram Mehta", specialties=["cardiology"], languages=["en", "hi"],
                                 services=[c1]),
        "rao": await m1.doctor("Dr. Anita Rao", specialties=["dermatology"], languages=["en", "kn"],
                               services=[c1, v1]),
        "iyer": await m1.doctor("Dr. Suresh Iyer", specialties=["paediatrics"], languages=["en"], services=[v1]),
        "khan": await m2.doctor("Dr. Farah Khan", specialties=["dermatology"], languages=["en", "hi"],
                                services=[c2]),
        "das": await m2.doctor("Dr. Rohit Das", specialties=["cardiology"], languages=["kn"]),
    }  # fmt: skip
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    await m1.next_free(docs["mehta"], base + timedelta(hours=3))
    await m1.next_free(docs["rao"], base + timedelta(hours=1))
    await m1.next_free(docs["iyer"], base + timedelta(days=5))
    await m2.next_free(docs["khan"], base + timedelta(hours=2))
    return m1, m2, {k: str(v) for k, v in docs.items()}


async def test_filters(factory: Factory, client: httpx.AsyncClient):
    m1, m2, d = await _catalogue(factory)
    city = (await listings(factory, tenant_id=m1.tenant.id))[0]["city"]

    async def found(**params: object) -> set[str]:
        return set(ids(await search_all(client, city=city, limit=50, **params)))

    assert await found() == set(d.values())
    assert await found(specialty="dermatology") == {d["rao"], d["khan"]}
    assert await found(language="hi") == {d["mehta"], d["khan"]}
    assert await found(mode="video") == {d["rao"], d["iyer"]}
    assert await found(min_price=50000, max_price=70000, currency="INR") == {d["mehta"], d["rao"]}
    assert await found(min_price=70000, currency="INR") == {d["khan"]}
    assert await found(max_price=45000, currency="INR") == {d["rao"], d["iyer"]}
    assert await found(min_price=0, currency="GBP") == set()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    assert await found(available_before=(tomorrow + timedelta(days=2)).isoformat()) == {d["mehta"], d["rao"],
                                                                                         d["khan"]}
    assert await found(available_before=(tomorrow - timedelta(days=1)).isoformat()) == set()
    assert set(ids(await search_all(client, city=city.upper(), limit=50))) == set(d.values())
    assert await found(specialty="cardiology", language="kn") == {d["das"]}


async def test_text_search_by_name_typo_and_condition(factory: Factory, client: httpx.AsyncClient):
    m1, _, d = await _catalogue(factory)
    city = (await listings(factory, tenant_id=m1.tenant.id))[0]["city"]
    by_typo = ids(await search_all(client, q="Mehtaa", city=city))
    assert by_typo == [d["mehta"]]
    by_condition = set(ids(await search_all(client, q="acne", city=city)))
    assert by_condition == {d["rao"], d["khan"]}
    assert set(ids(await search_all(client, q="heart", city=city))) == {d["mehta"], d["das"]}
    assert ids(await search_all(client, q="Anita", city=city)) == [d["rao"]]
    assert ids(await search_all(client, q="zzqxv", city=city)) == []


async def test_sorts_and_cursor_paging(factory: Factory, client: httpx.AsyncClient):
    m1, _, d = await _catalogue(factory)
    city = (await listings(factory, tenant_id=m1.tenant.id))[0]["city"]
    # next_available (default): earliest first, unknown last; two per page across three pages.
    pages = []
    cursor = None
    while True:
        page = await search(client, city=city, limit=2, cursor=cursor)
        pages.append(ids(page["items"]))
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    flat = [x for p in pages for x in p]
    assert flat[:4] == [d["rao"], d["khan"], d["mehta"], d["iyer"]] and flat[4] == d["das"]
    # price: lowest starting price first (no services: last).
    by_price = ids(await search_all(client, city=city, sort="price", limit=1))
    assert by_price[:2] == sorted([d["rao"], d["iyer"]]) and by_price[2:] == [d["mehta"], d["khan"], d["das"]]
    # A cursor belongs to its sort.
    page = await search(client, city=city, limit=1)
    params = {"city": city, "sort": "price", "cursor": page["next_cursor"]}
    r = await client.get("/api/v1/directory/search", params=params)
    assert "cursor" in field_errors(assert_problem(r, 422))


async def test_distance_filter_sort_and_values(factory: Factory, client: httpx.AsyncClient):
    m1, m2, d = await _catalogue(factory)
    mine = {m1.tenant.id.hex, m2.tenant.id.hex}

    def own(items: list[dict]) -> list[dict]:  # type: ignore[type-arg]
        return [i for i in items if uuid.UUID(i["tenant_id"]).hex in mine]

    near = own(await search_all(client, lat=BENGALURU[0], lon=BENGALURU[1], radius_km=200, sort="distance", limit=3))
    assert len(near) == 5
    distances = [i["distance_km"] for i in near]
    assert distances == sorted(distances)
    by_tenant = {i["tenant_id"]: i["distance_km"] for i in near}
    assert by_tenant[str(m1.tenant.id)] < 0.01
    assert abs(by_tenant[str(m2.tenant.id)] - 128.0) < 0.05
    assert near[0]["location"]["city"] == near[-1]["location"]["city"]
    # 100 km from Bengaluru leaves Mysuru out.
    close = own(await search_all(client, lat=BENGALURU[0], lon=BENGALURU[1], radius_km=100, limit=50))
    assert {i["tenant_id"] for i in close} == {str(m1.tenant.id)}
    # A second pair far away: London to Oxford.
    london = await make_market(factory, lat=LONDON[0], lon=LONDON[1], currency="GBP", country="GB", tz="Europe/London")
    oxford = await make_market(factory, lat=OXFORD[0], lon=OXFORD[1], currency="GBP", country="GB", tz="Europe/London")
    await london.doctor("Dr. London")
    ox = await oxford.doctor("Dr. Oxford")
    items = await search_all(client, lat=LONDON[0], lon=LONDON[1], radius_km=90, sort="distance", limit=50)
    found = {i["practitioner_id"]: i["distance_km"] for i in items}
    assert abs(found[str(ox)] - 82.6) < 0.05
    assert str(ox) not in ids(await search_all(client, lat=LONDON[0], lon=LONDON[1], radius_km=82, limit=50))


async def test_bad_search_input(client: httpx.AsyncClient):
    cases = [
        ({"radius_km": 10}, "radius_km"),
        ({"lat": 12.9, "lon": 77.5, "radius_km": 201}, "radius_km"),
        ({"lat": 12.9, "lon": 77.5, "radius_km": 0}, "radius_km"),
        ({"lat": 12.9}, "lon"),
        ({"lat": 91, "lon": 0}, "lat"),
        ({"min_price": 500, "max_price": 100, "currency": "INR"}, "min_price"),
        ({"min_price": 100}, "currency"),
        ({"sort": "rating"}, "sort"),
        ({"sort": "distance"}, "sort"),
        ({"specialty": "astrology"}, "specialty"),
        ({"language": "english"}, "language"),
        ({"mode": "phone"}, "mode"),
        ({"limit": 51}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"available_before": "tomorrow"}, "available_before"),
    ]
    for params, field in cases:
        r = await client.get("/api/v1/directory/search", params=params)
        assert field in field_errors(assert_problem(r, 422)), (params, r.text)


async def test_public_profile_and_specialties_anonymous(factory: Factory, client: httpx.AsyncClient):
    market = await make_market(factory)
    consult = await market.service("Consultation", 60000)
    pid = await market.doctor("Dr. Public", specialties=["ent"], services=[consult], qualifications="MS (ENT)")
    await client.patch(f"/api/v1/practitioners/{pid}", json={"bio": "Ears."}, headers=market.headers)
    r = await client.get(f"/api/v1/directory/practitioners/{pid}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Dr. Public" and body["bio"] == "Ears." and body["qualifications"] == "MS (ENT)"
    assert [s["name"] for s in body["services"]] == ["Consultation"] and body["services"][0]["price_minor"] == 60000
    assert body["specialties"] == [{"code": "ent", "name": "Ear, nose and throat"}]
    assert body["locations"][0]["id"] == str(market.tenant.location_id)
    # Hidden practitioners and unknown ids are 404.
    await client.patch(f"/api/v1/practitioners/{pid}", json={"is_published": False}, headers=market.headers)
    assert_problem(await client.get(f"/api/v1/directory/practitioners/{pid}"), 404)
    assert_problem(await client.get(f"/api/v1/directory/practitioners/{uuid.uuid4()}"), 404)
    r = await client.get("/api/v1/directory/specialties")
    assert r.status_code == 200 and len(r.json()) == 20 and {"code": "dermatology", "name": "Dermatology"} in r.json()
