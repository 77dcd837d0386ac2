"""Search around a city (a radius or a distance sort from the centre of the places its clinics list),
and "available before" a date in each clinic's own time zone."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import text

from carebase.directory import search as directory_search
from tests.api.helpers import assert_problem, field_errors
from tests.directory.conftest import Market, make_market, search, search_all
from tests.factories import Factory

URL = "/api/v1/directory/search"
EARTH_RADIUS_KM = 6371.0088

# Two clinics in the city itself, whose centre is (18.52, 73.856); the others in other towns.
PUNE_A = (18.5000, 73.8460)
PUNE_B = (18.5400, 73.8660)
PIMPRI = (18.6298, 73.7997)  # 13.6 km from the centre
TALEGAON = (18.7357, 73.6758)  # 30.6 km
LONAVALA = (18.7546, 73.4062)  # 54.1 km
MUMBAI = (19.0760, 72.8777)  # 120.1 km


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def centre_of(*places: tuple[float, float]) -> tuple[float, float]:
    x = sum(math.cos(math.radians(la)) * math.cos(math.radians(lo)) for la, lo in places) / len(places)
    y = sum(math.cos(math.radians(la)) * math.sin(math.radians(lo)) for la, lo in places) / len(places)
    z = sum(math.sin(math.radians(la)) for la, _ in places) / len(places)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


async def _region(factory: Factory) -> tuple[str, dict[str, tuple[str, tuple[float, float]]], set[str]]:
    """A uniquely named city with two clinics and four towns around it, one doctor each.
    Returns the city, {label: (practitioner id, place)} and the tenants' ids."""
    tag = uuid.uuid4().hex[:6]
    city = f"Pune{tag}"
    places = {
        "pune_a": (city, PUNE_A), "pune_b": (city, PUNE_B), "pimpri": (f"Pimpri{tag}", PIMPRI),
        "talegaon": (f"Talegaon{tag}", TALEGAON), "lonavala": (f"Lonavala{tag}", LONAVALA),
        "mumbai": (f"Mumbai{tag}", MUMBAI),
    }  # fmt: skip
    doctors: dict[str, tuple[str, tuple[float, float]]] = {}
    tenants: set[str] = set()
    for label, (town, (lat, lon)) in places.items():
        market = await make_market(factory, city=town, lat=lat, lon=lon)
        doctors[label] = (str(await market.doctor(f"Dr. {label.title()} {tag}")), (lat, lon))
        tenants.add(str(market.tenant.id))
    return city, doctors, tenants


def _own(items: list[dict], tenants: set[str]) -> list[dict]:  # type: ignore[type-arg]
    return [i for i in items if i["tenant_id"] in tenants]


async def test_radius_around_a_city_finds_nearby_towns_sorted_by_distance(factory: Factory, client: httpx.AsyncClient):
    city, d, tenants = await _region(factory)
    centre = centre_of(PUNE_A, PUNE_B)
    label_of = {pid: label for label, (pid, _) in d.items()}

    items = _own(await search_all(client, city=city.lower(), radius_km=35, sort="distance", limit=2), tenants)
    labels = [label_of[i["practitioner_id"]] for i in items]
    assert set(labels[:2]) == {"pune_a", "pune_b"} and labels[2:] == ["pimpri", "talegaon"]  # both 2.4 km away
    for item in items:
        expected = km(centre, d[label_of[item["practitioner_id"]]][1])
        assert item["distance_km"] is not None and abs(item["distance_km"] - expected) < 0.02, (item, expected)
    assert [i["distance_km"] for i in items] == sorted(i["distance_km"] for i in items)

    # A radius without the distance sort: the same places, soonest free first; the distance is still shown.
    within_20 = _own(await search_all(client, city=city, radius_km=20, limit=50), tenants)
    assert {label_of[i["practitioner_id"]] for i in within_20} == {"pune_a", "pune_b", "pimpri"}
    assert all(i["distance_km"] is not None for i in within_20)
    within_60 = _own(await search_all(client, city=city, radius_km=60, limit=50), tenants)
    assert {label_of[i["practitioner_id"]] for i in within_60} == {"pune_a", "pune_b", "pimpri", "talegaon", "lonavala"}

    # Sorting by distance from a city without a radius: the default 50 km.
    nearest = _own(await search_all(client, city=city, sort="distance", limit=50), tenants)
    assert [label_of[i["practitioner_id"]] for i in nearest][2:] == ["pimpri", "talegaon"]

    # The city alone is still that city only, with no distance.
    only = _own(await search_all(client, city=city, limit=50), tenants)
    assert {label_of[i["practitioner_id"]] for i in only} == {"pune_a", "pune_b"}
    assert all(i["distance_km"] is None for i in only)


async def test_later_pages_keep_the_city_centre_of_the_first(factory: Factory, client: httpx.AsyncClient):
    city, d, tenants = await _region(factory)
    centre = centre_of(PUNE_A, PUNE_B)
    first = await search(client, city=city, radius_km=200, sort="distance", limit=1)
    assert first["next_cursor"]
    # One of the city's clinics moves and this process forgets the centre; the cursor still has it.
    async with factory.owner() as s, s.begin():
        await s.execute(text("UPDATE directory_listings SET latitude = 18.90 WHERE practitioner_id = :p"),
                        {"p": uuid.UUID(d["pune_b"][0])})  # fmt: skip
    directory_search.forget_city_centres()
    items, cursor = list(first["items"]), first["next_cursor"]
    while cursor:
        page = await search(client, city=city, radius_km=200, sort="distance", limit=3, cursor=cursor)
        items, cursor = items + page["items"], page["next_cursor"]
    mine = _own(items, tenants)
    by_id = {pid: place for pid, place in d.values()}
    by_id[d["pune_b"][0]] = (18.90, PUNE_B[1])
    for item in mine:
        assert abs(item["distance_km"] - km(centre, by_id[item["practitioner_id"]])) < 0.02
    ids = [i["practitioner_id"] for i in items]
    assert len(ids) == len(set(ids))  # no repeats
    assert [i["distance_km"] for i in items] == sorted(i["distance_km"] for i in items)
    # A new first page uses the moved place.
    fresh = _own(await search_all(client, city=city, radius_km=200, sort="distance", limit=50), tenants)
    moved = centre_of(PUNE_A, (18.90, PUNE_B[1]))
    for item in fresh:
        assert abs(item["distance_km"] - km(moved, by_id[item["practitioner_id"]])) < 0.02


async def test_unknown_or_unmapped_city_with_a_radius_is_a_field_error(factory: Factory, client: httpx.AsyncClient):
    nowhere = f"Nowhere{uuid.uuid4().hex[:8]}"
    for params in ({"city": nowhere, "radius_km": "10"}, {"city": nowhere, "sort": "distance"}):
        for _ in range(2):  # never cached
            body = assert_problem(await client.get(URL, params=params), 422)
            (error,) = body["errors"]
            assert error == {"loc": ["query", "city"], "msg": directory_search.UNKNOWN_CITY, "type": "value_error"}
    # Every problem at once, in FastAPI's shape.
    r = await client.get(URL, params={"city": nowhere, "radius_km": "10", "limit": "51", "specialty": "astrology"})
    assert set(field_errors(assert_problem(r, 422))) == {"city", "limit", "specialty"}
    # The city alone is an ordinary (empty) search; a city and a point are still refused.
    assert (await search(client, city=nowhere))["items"] == []
    r = await client.get(URL, params={"city": nowhere, "lat": "18.5", "lon": "73.8", "radius_km": "10"})
    assert field_errors(assert_problem(r, 422)) == {"city": "Search near a point or in a city, not both."}
    # A radius with neither a point nor a city.
    r = await client.get(URL, params={"radius_km": "10"})
    assert "radius_km" in field_errors(assert_problem(r, 422))
    # A city whose clinics give no coordinates.
    unmapped = f"Unmapped{uuid.uuid4().hex[:8]}"
    market = await make_market(factory, city=unmapped, lat=None, lon=None)
    await market.doctor("Dr. Off The Map")
    r = await client.get(URL, params={"city": unmapped, "radius_km": "10"})
    assert field_errors(assert_problem(r, 422)) == {"city": directory_search.UNMAPPED_CITY}
    assert [i["name"] for i in (await search(client, city=unmapped))["items"]] == ["Dr. Off The Map"]


async def test_a_shared_city_name_takes_the_busier_time_zone(factory: Factory, client: httpx.AsyncClient):
    name = f"London{uuid.uuid4().hex[:6]}"
    uk = [await make_market(factory, city=name, lat=51.5074 + k / 100, lon=-0.1278, currency="GBP", country="GB",
                            tz="Europe/London") for k in range(2)]  # fmt: skip
    ontario = await make_market(factory, city=name, lat=42.9849, lon=-81.2453, currency="CAD", country="CA",
                                tz="America/Toronto")  # fmt: skip
    for m in (*uk, ontario):
        await m.doctor("Dr. Shared Name")
    items = await search_all(client, city=name, radius_km=25, limit=50)
    assert {i["tenant_id"] for i in items} >= {str(m.tenant.id) for m in uk}
    assert str(ontario.tenant.id) not in {i["tenant_id"] for i in items}
    assert all(i["distance_km"] < 2 for i in items if i["tenant_id"] in {str(m.tenant.id) for m in uk})


async def test_available_before_ends_at_midnight_where_the_clinic_is(factory: Factory, client: httpx.AsyncClient):
    city = f"Zones{uuid.uuid4().hex[:6]}"
    day = date(2031, 1, 15)  # winter: London on GMT, Los Angeles on PST

    async def doctor(tz: str, at: datetime) -> tuple[Market, str]:
        market = await make_market(factory, city=city, tz=tz)
        pid = await market.doctor(f"Dr. {tz}")
        await market.next_free(pid, at)
        return market, str(pid)

    _, kolkata = await doctor("Asia/Kolkata", datetime(2031, 1, 15, 20, 0, tzinfo=UTC))  # 16 Jan 01:30 IST
    _, kolkata_same_day = await doctor("Asia/Kolkata", datetime(2031, 1, 15, 18, 0, tzinfo=UTC))  # 15 Jan 23:30
    _, london = await doctor("Europe/London", datetime(2031, 1, 15, 23, 30, tzinfo=UTC))  # 15 Jan 23:30 GMT
    _, los_angeles = await doctor("America/Los_Angeles", datetime(2031, 1, 16, 7, 0, tzinfo=UTC))  # 15 Jan 23:00
    _, pago_pago = await doctor("Pacific/Pago_Pago", datetime(2031, 1, 16, 10, 30, tzinfo=UTC))  # 15 Jan 23:30
    _, la_late = await doctor("America/Los_Angeles", datetime(2031, 1, 16, 8, 0, tzinfo=UTC))  # 16 Jan 00:00

    async def free_by(d: date) -> set[str]:
        return {i["practitioner_id"] for i in await search_all(client, city=city, available_before=d.isoformat())}

    assert await free_by(day) == {kolkata_same_day, london, los_angeles, pago_pago}
    assert await free_by(day + timedelta(days=1)) == {kolkata, kolkata_same_day, london, los_angeles, pago_pago,
                                                      la_late}  # fmt: skip
    assert await free_by(day - timedelta(days=1)) == set()
    # Summer in London: 23:30 UTC is already the next day there.
    summer_city = f"Summer{uuid.uuid4().hex[:6]}"
    market = await make_market(factory, city=summer_city, tz="Europe/London", country="GB", currency="GBP")
    pid = await market.doctor("Dr. British Summer")
    await market.next_free(pid, datetime(2031, 7, 15, 23, 30, tzinfo=UTC))
    assert (await search(client, city=summer_city, available_before="2031-07-15"))["items"] == []
    assert len((await search(client, city=summer_city, available_before="2031-07-16"))["items"]) == 1


async def test_find_page_searches_around_the_typed_city(factory: Factory, client: httpx.AsyncClient):
    city, d, _ = await _region(factory)
    page = await client.get("/find", params={"city": city, "radius_km": "20", "sort": "distance"})
    assert page.status_code == 200, page.text
    html = page.text
    positions = [html.find(f"/doctors/{d[label][0]}") for label in ("pune_a", "pune_b", "pimpri")]
    assert all(p > 0 for p in positions) and max(positions[:2]) < positions[2]
    assert f"/doctors/{d['talegaon'][0]}" not in html
    assert 'name="radius_km"' in html and '<option value="20" selected' in html
    assert " km" in html
    # An unknown city with a radius: the error is next to the city, in a patient's words.
    bad = await client.get("/find", params={"city": f"Nowhere{uuid.uuid4().hex[:6]}", "radius_km": "10"})
    assert bad.status_code == 422
    assert "No clinic lists that city" in bad.text and "lat and lon" not in bad.text
