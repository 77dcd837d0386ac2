"""Public marketplace search and public profiles: raw SQL on the driver (a hot path), cached.

Search reads only ``directory_listings`` (public by design, no tenant context). A public profile
adds what only the tenant's own rows hold (bio, services): it finds the practitioner's tenant in the
listing, then reads those rows in that tenant's context in a read-only transaction, and only for a
practitioner who is listed (published, active, in a tenant that publishes to the marketplace).

The API reads through ``Database.raw_connection()`` (no SQLAlchemy session: a search is one statement, so
no transaction either); the web pages pass their unit of work's session and read on its connection.
A cache hit touches neither the database nor pydantic: the API keys search pages by the query
string's known parameters (``query_digest``), so only a miss validates its input.
"""

from __future__ import annotations

import base64
import hashlib
import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core import cache as core_cache
from carebase.core.db import Database, driver_connection, raw_transaction
from carebase.core.errors import NotFound, ValidationFailed
from carebase.directory.cache import SEARCH_SCOPE, TTL, profile_key, search_key, tenant_of_key, tenant_scope
from carebase.directory.schemas import ISO_639_1, SearchFilters

MAX_LIMIT = 50
MAX_RADIUS_KM = 200.0
DEFAULT_RADIUS_KM = 50.0
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = 111.195  # along a meridian, on the sphere above
SORTS = ("next_available", "price", "distance")
_SORT_COLUMN = {"next_available": "next_free_at", "price": "min_price_minor", "distance": "distance_km"}

_COLUMNS = (
    "practitioner_id, location_id, tenant_id, tenant_name, practitioner_name, qualifications, photo_url,"
    " specialty_codes, specialty_names, languages, modes, min_price_minor, max_price_minor, currency,"
    " location_name, city, timezone, latitude, longitude, next_free_at"
)

# What a search returns: the ids as text, which the JSON needs anyway; as uuids, asyncpg would build a
# UUID object for each and orjson would hand each back to Python (``default=str``), 8% of the server's
# CPU for an uncached search. Sorting and the cursor's comparisons use the uuid columns (``l.``).
_IDS = ("practitioner_id", "location_id", "tenant_id")
_OUT = ", ".join(
    f"l.{c}::text AS {c}" if c in _IDS else f"l.{c}" for c in (*_COLUMNS.replace(" ", "").split(","), "distance_km")
)

# Specialties are reference data that only migrations change: kept per process for a few minutes,
# with their JSON answer (GET /directory/specialties) ready-made.
SPECIALTIES_TTL = 300.0
_specialties: tuple[float, dict[str, str], bytes] = (0.0, {}, b"[]")

# A city's centre (for a radius or a distance sort around a city) comes from the listings themselves,
# kept per process for a few minutes too: {lower(city): (loaded_at, (lat, lon))}. Only found centres
# are kept (an unknown city costs one indexed query each time), and at most CITY_CENTRES_KEPT of them.
CITY_CENTRE_TTL = 300.0
CITY_CENTRES_KEPT = 1024
_city_centres: dict[str, tuple[float, tuple[float, float]]] = {}
UNKNOWN_CITY = "No clinic lists that city; give lat and lon."
UNMAPPED_CITY = "No clinic in that city gives its place on the map; give lat and lon."
RADIUS_NEEDS_POINT = "A radius needs a point: give lat and lon, or a city."
SORT_NEEDS_POINT = "Sorting by distance needs a point: give lat and lon, or a city."

# The mean of the places' unit vectors (right across the antimeridian too), each distinct place once,
# in the city's busiest time zone: a name shared by cities in two countries (London, Hyderabad) takes
# the one with more clinics instead of a point between them. Uses the lower(city) index.
_CITY_CENTRE = """
    SELECT count(*) FILTER (WHERE lat IS NOT NULL AND lon IS NOT NULL) AS places,
           avg(cos(radians(lat)) * cos(radians(lon))) AS x, avg(cos(radians(lat)) * sin(radians(lon))) AS y,
           avg(sin(radians(lat))) FILTER (WHERE lon IS NOT NULL) AS z
    FROM (SELECT DISTINCT timezone, latitude AS lat, longitude AS lon FROM directory_listings
          WHERE lower(city) = lower($1)) AS p
    GROUP BY timezone
    ORDER BY places DESC, timezone
    LIMIT 1
"""


@asynccontextmanager
async def _reading(source: AsyncSession | Database) -> AsyncIterator[asyncpg.Connection]:
    """The API reads on a raw pool connection (``Database.raw_connection``), the web pages on their
    session's connection: both read alike."""
    if isinstance(source, Database):
        async with source.raw_connection() as conn:
            yield conn
    else:
        yield await driver_connection(source)


async def _load_specialties(conn: asyncpg.Connection) -> tuple[dict[str, str], bytes]:
    global _specialties
    loaded_at, names, body = _specialties
    if not names or time.monotonic() - loaded_at > SPECIALTIES_TTL:
        rows = await conn.fetch("SELECT code, name FROM specialties ORDER BY name")
        names = {r["code"]: r["name"] for r in rows}
        body = orjson.dumps([{"code": code, "name": name} for code, name in names.items()])
        _specialties = (time.monotonic(), names, body)
    return names, body


def forget_specialties() -> None:
    """Drop the per-process copy (tests; a process that changed the reference data)."""
    global _specialties
    _specialties = (0.0, {}, b"[]")


async def specialty_names(conn: asyncpg.Connection) -> dict[str, str]:
    return (await _load_specialties(conn))[0]


async def city_centre(conn: asyncpg.Connection, city: str) -> tuple[tuple[float, float] | None, str | None]:
    """The centre of the places listed in ``city`` (any case) as (lat, lon), or None and why not."""
    name = city.lower()
    kept = _city_centres.get(name)
    now = time.monotonic()
    if kept is not None and now - kept[0] <= CITY_CENTRE_TTL:
        return kept[1], None
    row = await conn.fetchrow(_CITY_CENTRE, city)
    if row is None:
        return None, UNKNOWN_CITY
    if not row["places"]:
        return None, UNMAPPED_CITY
    x, y, z = row["x"], row["y"], row["z"]
    centre = (math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x)))
    if len(_city_centres) >= CITY_CENTRES_KEPT:
        stale = [k for k, (at, _) in _city_centres.items() if now - at > CITY_CENTRE_TTL]
        for old in stale or [next(iter(_city_centres))]:  # else the oldest
            del _city_centres[old]
    _city_centres.pop(name, None)
    _city_centres[name] = (now, centre)
    return centre, None


def forget_city_centres() -> None:
    """Drop the per-process city centres (tests; after moving places)."""
    _city_centres.clear()


async def specialties_json(source: AsyncSession | Database) -> bytes:
    loaded_at, _, body = _specialties
    if loaded_at and time.monotonic() - loaded_at <= SPECIALTIES_TTL:
        return body
    async with _reading(source) as conn:
        return (await _load_specialties(conn))[1]


# --- input ----------------------------------------------------------------------------------------


def _err(field: str, msg: str) -> dict[str, Any]:
    return {"loc": ["query", field], "msg": msg, "type": "value_error"}


def near_city(f: SearchFilters) -> bool:
    """A city with a radius or a distance sort means around the city's centre (else: that city only)."""
    return f.city is not None and f.lat is None and f.lon is None and (f.radius_km is not None or f.sort == "distance")


def check_filters(f: SearchFilters, specialties: dict[str, str], city_problem: str | None = None) -> None:
    """Checks that need several fields at once; every problem is reported, as field errors.
    ``city_problem``: why the city has no centre, when the search is around it (``city_centre``)."""
    errors = []
    for name in ("q", "city"):  # PostgreSQL text cannot hold NUL: it would fail the query (a 500)
        if "\x00" in (getattr(f, name) or ""):
            errors.append(_err(name, "Remove the NUL character."))
    if f.specialty is not None and f.specialty not in specialties:
        errors.append(_err("specialty", "Unknown specialty code; see GET /api/v1/directory/specialties."))
    if (f.lat is None) != (f.lon is None):
        errors.append(_err("lat" if f.lat is None else "lon", "Give both lat and lon."))
    around_city = near_city(f)
    if around_city and city_problem is not None:
        errors.append(_err("city", city_problem))
    if f.radius_km is not None:
        if (f.lat is None or f.lon is None) and not around_city:
            errors.append(_err("radius_km", RADIUS_NEEDS_POINT))
        if not 0 < f.radius_km <= MAX_RADIUS_KM:
            errors.append(_err("radius_km", f"Give a radius above 0 and at most {MAX_RADIUS_KM:g} km."))
    if f.lat is not None and not -90 <= f.lat <= 90:
        errors.append(_err("lat", "Latitude is between -90 and 90."))
    if f.lon is not None and not -180 <= f.lon <= 180:
        errors.append(_err("lon", "Longitude is between -180 and 180."))
    if f.city is not None and f.lat is not None:
        errors.append(_err("city", "Search near a point or in a city, not both."))
    if f.min_price is not None and f.min_price < 0:
        errors.append(_err("min_price", "Prices are 0 or more (minor units)."))
    if f.min_price is not None and f.max_price is not None and f.min_price > f.max_price:
        errors.append(_err("min_price", "min_price is above max_price."))
    if (f.min_price is not None or f.max_price is not None) and f.currency is None:
        errors.append(_err("currency", "A price range needs its currency, e.g. INR or GBP."))
    if f.language is not None and f.language not in ISO_639_1:
        errors.append(_err("language", "Use an ISO 639-1 code in lower case, e.g. en, hi."))
    if f.sort not in SORTS:
        errors.append(_err("sort", "Sort by one of: " + ", ".join(SORTS) + "."))
    elif f.sort == "distance" and f.lat is None and not around_city:
        errors.append(_err("sort", SORT_NEEDS_POINT))
    if not 1 <= f.limit <= MAX_LIMIT:
        errors.append(_err("limit", f"Ask for between 1 and {MAX_LIMIT} results."))
    if errors:
        raise ValidationFailed("Some search filters are invalid.", errors=errors)


def _encode_cursor(
    sort: str, value: Any, practitioner_id: uuid.UUID, location_id: uuid.UUID, centre: tuple[float, float] | None
) -> str:
    """A search around a city carries the city's centre too: the next pages use the same point even if
    another process (or a later minute) finds the centre moved."""
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = orjson.dumps([sort, value, str(practitioner_id), str(location_id), *(centre or ())])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_centre(cursor: str | None) -> tuple[float, float] | None:
    """The city centre a cursor carries, if it is a valid one (``_decode_cursor`` reports bad cursors)."""
    try:
        return _decode_cursor(cursor, None)[3] if cursor else None
    except ValidationFailed:
        return None


def _decode_cursor(cursor: str, sort: str | None) -> tuple[Any, uuid.UUID, uuid.UUID, tuple[float, float] | None]:
    bad = ValidationFailed("The cursor is not valid.", errors=[_err("cursor", "Start again from the first page.")])
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) not in (4, 6):
            raise ValueError
        cursor_sort, value, pid, lid = raw[:4]
        centre = None
        if len(raw) == 6:
            clat, clon = raw[4:]
            if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in (clat, clon)):
                raise ValueError
            if not (-90 <= clat <= 90 and -180 <= clon <= 180):
                raise ValueError
            centre = (float(clat), float(clon))
        if sort is None:
            sort = cursor_sort
        if cursor_sort != sort:
            raise ValueError
        if sort == "next_available" and value is not None:
            value = datetime.fromisoformat(value["t"])
            if value.tzinfo is None:
                raise ValueError
        elif sort == "price" and value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError
        elif sort == "distance":
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError
            value = float(value)
        return value, uuid.UUID(pid), uuid.UUID(lid), centre
    except (ValueError, TypeError, KeyError) as exc:
        raise bad from exc


# --- the query ------------------------------------------------------------------------------------


def build_query(f: SearchFilters, centre: tuple[float, float] | None = None) -> tuple[str, list[Any]]:
    """The search statement and its parameters (everything bound; nothing from input in the text).
    ``centre``: the city's centre when the search is around a city (``near_city``) instead of in it."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where: list[str] = []
    distance = "NULL::float8"
    outer: list[str] = []
    point = (f.lat, f.lon) if f.lat is not None and f.lon is not None else centre
    if point is not None:
        p_lat, p_lon = point
        radius = f.radius_km or DEFAULT_RADIUS_KM
        lat, lon = arg(p_lat), arg(p_lon)
        # A bounding box the (latitude, longitude) index can use, then the great-circle distance.
        dlat = radius / KM_PER_DEGREE
        where.append(f"latitude BETWEEN {arg(p_lat - dlat)} AND {arg(p_lat + dlat)}")
        cos_lat = math.cos(math.radians(p_lat))
        dlon = radius / (KM_PER_DEGREE * cos_lat) if cos_lat > 1e-6 else 360.0
        if dlon < 180 and -180 <= p_lon - dlon and p_lon + dlon <= 180:
            where.append(f"longitude BETWEEN {arg(p_lon - dlon)} AND {arg(p_lon + dlon)}")
        else:
            where.append("longitude IS NOT NULL")
        distance = (
            f"{EARTH_RADIUS_KM} * 2 * asin(least(1.0, sqrt(power(sin(radians(latitude - {lat}) / 2), 2)"
            f" + cos(radians({lat})) * cos(radians(latitude)) * power(sin(radians(longitude - {lon}) / 2), 2))))"
        )
        outer.append(f"distance_km <= {arg(float(radius))}")
    if f.specialty:
        where.append(f"specialty_codes @> ARRAY[{arg(f.specialty)}]::varchar[]")
    if f.q:
        q = arg(f.q)
        # Full text over name (A), specialties and their condition words (B), city, tenant, qualifications;
        # or a name that matches a word of the query despite a typo (trigram word similarity).
        # The tsquery as a one-time subquery: in a generic plan a plain call would be evaluated again per row.
        where.append(f"(search @@ (SELECT plainto_tsquery('simple', {q})) OR {q} <% practitioner_name)")
    if f.city and point is None:  # around a city, nearby places count too
        where.append(f"lower(city) = lower({arg(f.city)})")
    if f.currency:
        where.append(f"currency = {arg(f.currency)}")
    if f.min_price is not None:
        where.append(f"max_price_minor >= {arg(f.min_price)}")
    if f.max_price is not None:
        where.append(f"min_price_minor <= {arg(f.max_price)}")
    if f.language:
        where.append(f"languages @> ARRAY[{arg(f.language)}]::varchar[]")
    if f.mode:
        where.append(f"modes @> ARRAY[{arg(f.mode)}]::varchar[]")
    if f.available_before:
        # Free on or before that date where the clinic is: before the next midnight in the listing's own
        # zone. The first bound is for the next_free_at index (no zone is 14 hours behind UTC); the
        # second is exact.
        day_after = datetime.combine(f.available_before + timedelta(days=1), dtime(0))
        where.append(f"next_free_at < {arg(day_after.replace(tzinfo=UTC) + timedelta(hours=14))}")
        where.append(f"next_free_at < ({arg(day_after)}::timestamp AT TIME ZONE timezone)")
    column = _SORT_COLUMN[f.sort]
    if f.cursor:
        value, pid, lid, _ = _decode_cursor(f.cursor, f.sort)
        after = f"(practitioner_id, location_id) > ({arg(pid)}, {arg(lid)})"
        if value is None:
            outer.append(f"({column} IS NULL AND {after})")
        else:
            v = arg(value)
            outer.append(f"({column} > {v} OR ({column} = {v} AND {after}) OR {column} IS NULL)")
    inner = f"SELECT {_COLUMNS}, {distance} AS distance_km FROM directory_listings"  # noqa: S608 (no input in text)
    if where:
        inner += " WHERE " + " AND ".join(where)
    if f.q:
        # Text matches first, then sort them: walking the next_free_at index instead (the planner's choice
        # under LIMIT) tests the tsvector and the trigram word similarity on every row it passes, 3-5x slower.
        sql = f"WITH l AS MATERIALIZED ({inner}) SELECT {_OUT} FROM l"  # noqa: S608
    else:
        sql = f"SELECT {_OUT} FROM ({inner}) AS l"  # noqa: S608
    if outer:
        sql += " WHERE " + " AND ".join(outer)
    sql += f" ORDER BY l.{column} ASC NULLS LAST, l.practitioner_id, l.location_id LIMIT {arg(f.limit + 1)}"
    return sql, args


def _result(row: asyncpg.Record, with_distance: bool) -> dict[str, Any]:
    return {
        "practitioner_id": row["practitioner_id"],
        "tenant_id": row["tenant_id"],
        "tenant_name": row["tenant_name"],
        "name": row["practitioner_name"],
        "qualifications": row["qualifications"],
        "photo_url": row["photo_url"],
        "specialties": [
            {"code": c, "name": n} for c, n in zip(row["specialty_codes"], row["specialty_names"], strict=False)
        ],
        "languages": row["languages"],
        "modes": row["modes"],
        "min_price_minor": row["min_price_minor"],
        "max_price_minor": row["max_price_minor"],
        "currency": row["currency"],
        "location": {
            "id": row["location_id"],
            "name": row["location_name"],
            "city": row["city"],
            "latitude": row["latitude"],
            "longitude": row["longitude"],
            "timezone": row["timezone"],
        },  # fmt: skip
        "distance_km": round(row["distance_km"], 2) if with_distance else None,
        "next_free_at": row["next_free_at"],
    }


def _cache_digest(f: SearchFilters) -> str:
    """Web pages' key: the validated filters, normalised."""
    return "f" + hashlib.sha256(orjson.dumps(f.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


# The API's query parameters; others are ignored (and so cannot make a new cache entry).
QUERY_FIELDS = frozenset(SearchFilters.model_fields)


def query_params(query_string: bytes) -> dict[str, str]:
    """The known parameters of a raw query string, read as Starlette and FastAPI read them (Latin-1,
    blank values kept, the last of a repeated name wins)."""
    return {k: v for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True) if k in QUERY_FIELDS}


def query_digest(params: dict[str, str]) -> str:
    """The API's key: the known parameters as sent, sorted. Two spellings of one search are two entries
    (both right); input that fails validation is never stored, so it is checked on every request."""
    return "q" + hashlib.blake2b(orjson.dumps(sorted(params.items())), digest_size=16).hexdigest()


async def cached_page(digest: str) -> tuple[str, bytes | None]:
    """The cache key of a search page under the current generation, and the page if it is cached."""
    cache = core_cache.current()
    key = search_key(await cache.generation(SEARCH_SCOPE), digest)
    return key, await cache.get(key)


async def search_listings(source: AsyncSession | Database, filters: SearchFilters, key: str | None = None) -> bytes:
    """One page of public search results as JSON (``SearchPage``), from the cache when it can.
    ``key``: the API has looked in the cache already (``cached_page``) and missed."""
    cache = core_cache.current()
    if key is None:
        key, cached = await cached_page(_cache_digest(filters))
        if cached is not None:
            return cached
    async with _reading(source) as conn:
        specialties = await specialty_names(conn)
        centre, city_problem = None, None
        if near_city(filters) and filters.city and "\x00" not in filters.city:
            centre = _cursor_centre(filters.cursor)
            if centre is None:
                centre, city_problem = await city_centre(conn, filters.city)
        check_filters(filters, specialties, city_problem)
        sql, args = build_query(filters, centre)
        rows = await conn.fetch(sql, *args)
    kept = rows[: filters.limit]
    next_cursor = None
    if len(rows) > filters.limit:
        last = kept[-1]
        next_cursor = _encode_cursor(
            filters.sort, last[_SORT_COLUMN[filters.sort]], last["practitioner_id"], last["location_id"], centre
        )
    with_distance = filters.lat is not None or centre is not None
    body = orjson.dumps(
        {"items": [_result(r, with_distance) for r in kept], "next_cursor": next_cursor}, default=str
    )  # default: asyncpg's own UUID type
    await cache.set(key, body, TTL)
    return body


# --- public profile -------------------------------------------------------------------------------

_PROFILE_LISTING = f"SELECT {_COLUMNS} FROM directory_listings WHERE practitioner_id = $1 ORDER BY location_name"  # noqa: S608
_PROFILE_OWN = """
    SELECT p.bio, p.approves_bookings,
           coalesce((SELECT json_agg(json_build_object(
                'id', s.id, 'name', s.name, 'duration_minutes', s.duration_minutes, 'price_minor', s.price_minor,
                'currency', s.currency, 'mode', s.mode, 'payment', s.payment) ORDER BY s.name, s.id)
             FROM practitioner_services x JOIN services s ON s.id = x.service_id
             WHERE x.practitioner_id = p.id AND s.is_active), '[]') AS services
    FROM practitioners p
    WHERE p.id = $1 AND p.is_published AND p.is_active
"""


async def _profile_rows(conn: asyncpg.Connection, practitioner_id: uuid.UUID) -> tuple[list[asyncpg.Record], Any]:
    """The listing rows, then the tenant's own rows in its context (the caller's transaction is read-only)."""
    listing = await conn.fetch(_PROFILE_LISTING, practitioner_id)
    if not listing:
        raise NotFound("No such practitioner in the directory.")
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(listing[0]["tenant_id"]))
    own = await conn.fetchrow(_PROFILE_OWN, practitioner_id)
    return listing, own


async def public_profile(source: AsyncSession | Database, practitioner_id: uuid.UUID) -> bytes:
    """A listed practitioner's public profile as JSON (``PublicProfile``); 404 unless listed."""
    cache = core_cache.current()
    raw_tenant = await cache.get(tenant_of_key(practitioner_id))
    if raw_tenant is None:
        async with _reading(source) as conn:
            found = await conn.fetchval(
                "SELECT tenant_id FROM directory_listings WHERE practitioner_id = $1 LIMIT 1", practitioner_id
            )
        if found is None:
            raise NotFound("No such practitioner in the directory.")
        tenant_id = str(found)
        await cache.set(tenant_of_key(practitioner_id), tenant_id.encode(), 3600)
    else:
        tenant_id = raw_tenant.decode()
    key = profile_key(tenant_id, await cache.generation(tenant_scope(tenant_id)), practitioner_id)
    cached = await cache.get(key)
    if cached is not None:
        return cached
    # The tenant's own rows, in its context, for a practitioner it has published; nothing can be written.
    if isinstance(source, Database):
        async with raw_transaction(source, readonly=True) as conn:
            listing, own = await _profile_rows(conn, practitioner_id)
    else:
        conn = await driver_connection(source)
        await conn.execute("SET LOCAL transaction_read_only = on")
        listing, own = await _profile_rows(conn, practitioner_id)
        await conn.execute("SELECT set_config('app.tenant_id', '', true)")
    if own is None:
        raise NotFound("No such practitioner in the directory.")
    services = own["services"]
    if isinstance(services, str):
        services = orjson.loads(services)
    first = listing[0]
    profile = {
        "practitioner_id": first["practitioner_id"], "tenant_id": first["tenant_id"],
        "tenant_name": first["tenant_name"], "name": first["practitioner_name"],
        "qualifications": first["qualifications"], "bio": own["bio"], "photo_url": first["photo_url"],
        "languages": first["languages"], "approves_bookings": own["approves_bookings"],
        "specialties": [
            {"code": c, "name": n} for c, n in zip(first["specialty_codes"], first["specialty_names"], strict=False)
        ],
        "services": services,
        "locations": [
            {"id": r["location_id"], "name": r["location_name"], "city": r["city"], "latitude": r["latitude"],
             "longitude": r["longitude"], "timezone": r["timezone"]}
            for r in listing
        ],
        "next_free_at": min((r["next_free_at"] for r in listing if r["next_free_at"]), default=None),
    }  # fmt: skip
    body = orjson.dumps(profile, default=str)
    await cache.set(key, body, TTL)
    return body
