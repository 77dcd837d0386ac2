"""Public pages, no sign-in needed: find a doctor (marketplace search across every publishing
tenant, with filters and sort) and a doctor's profile with the week slot picker per service."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from carebase.core.errors import CarebaseError
from carebase.core.uow import unit_of_work
from carebase.directory import search
from carebase.directory.schemas import SearchFilters
from carebase.identity.roles import Role
from carebase.scheduling.availability import availability
from carebase.web.auth import WebRoute, db_of, optional_principal, parse_uuid
from carebase.web.forms import errors_from_service, errors_from_validation
from carebase.web.slots import parse_day, today_in, week_grid
from carebase.web.templating import render

router = APIRouter(route_class=WebRoute)

LANGUAGES = [("en", "English"), ("hi", "Hindi"), ("kn", "Kannada"), ("mr", "Marathi"), ("ta", "Tamil"),
             ("te", "Telugu"), ("bn", "Bengali"), ("gu", "Gujarati"), ("ur", "Urdu"), ("ml", "Malayalam")]  # fmt: skip
CURRENCIES = [("INR", "₹ INR"), ("GBP", "£ GBP"), ("USD", "$ USD"), ("EUR", "€ EUR")]
SORTS = [("next_available", "Soonest available"), ("price", "Lowest fee"), ("distance", "Nearest")]
RADII = [("5", "5 km"), ("10", "10 km"), ("20", "20 km"), ("50", "50 km"), ("100", "100 km"), ("200", "200 km")]
# The search's messages speak to API clients (lat and lon); a patient types a city or uses their location.
_PATIENT_WORDS = {
    search.UNKNOWN_CITY: "No clinic lists that city. Check the spelling, or use your location.",
    search.UNMAPPED_CITY: (
        "Clinics in that city are not on the map yet: search without a distance, or use your location."
    ),
    search.RADIUS_NEEDS_POINT: "Type a city or use your location to search within a distance.",
    search.SORT_NEEDS_POINT: "Type a city or use your location to sort by distance.",
}
FIELDS = ("specialty", "q", "city", "lat", "lon", "radius_km", "min_fee", "max_fee", "currency", "language", "mode",
          "available_before", "sort", "cursor")  # fmt: skip


def _filters(values: dict[str, str]) -> dict[str, Any]:
    """The page's friendly fields as the search's own: fees in major units become minor units."""
    data: dict[str, Any] = {k: v for k, v in values.items() if v and k in FIELDS}
    for fee, name in (("min_fee", "min_price"), ("max_fee", "max_price")):
        raw = data.pop(fee, None)
        if raw is not None:
            try:
                data[name] = round(float(raw) * 100)
            except ValueError:
                data[name] = raw  # pydantic reports it next to the field
    if "min_price" not in data and "max_price" not in data:
        data.pop("currency", None)
    data["limit"] = 20
    return data


_FIELD_OF = {"min_price": "min_fee", "max_price": "max_fee", "lat": "near", "lon": "near"}


@router.get("/find")
async def find(request: Request) -> Response:
    principal = await optional_principal(request)
    values = {k: v.strip()[:120] for k, v in request.query_params.items() if k in FIELDS and isinstance(v, str)}
    values.setdefault("sort", "next_available")
    values.setdefault("currency", "INR")
    if values.get("city"):
        # "Use my location" empties the city, so a city next to a point was typed afterwards: it wins.
        values.pop("lat", None)
        values.pop("lon", None)
    errors: dict[str, str] = {}
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    async with unit_of_work(db_of(request)) as session:
        specialties = orjson.loads(await search.specialties_json(session))
        try:
            filters = SearchFilters.model_validate(_filters(values))
            page = orjson.loads(await search.search_listings(session, filters))
        except ValidationError as exc:
            errors = errors_from_validation(exc)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
    errors = {_FIELD_OF.get(k, k): _PATIENT_WORDS.get(v, v) for k, v in errors.items()}
    shown = {"q", "specialty", "city", "radius_km", "near", "mode", "language", "max_fee", "currency",
             "available_before", "sort"}  # fmt: skip
    general = [v for k, v in errors.items() if k not in shown]
    for item in page["items"]:
        item["next_free"] = _parse_dt(item.get("next_free_at"))
    more = None
    if page.get("next_cursor"):
        kept = {k: v for k, v in values.items() if k != "cursor"}
        more = "/find?" + urlencode(kept | {"cursor": page["next_cursor"]})
    searched = any(values.get(k) for k in FIELDS if k not in ("sort", "currency"))
    # Distances are from the typed city's centre when the search is around it, else from the patient.
    around_city = None
    typed = values.get("city", "")
    if typed and (values.get("radius_km") or values.get("sort") == "distance"):
        # As the clinics spell it ("pune" typed, "Pune" listed).
        around_city = next((i["location"]["city"] for i in page["items"]
                            if i["location"]["city"].lower() == typed.lower()), typed)  # fmt: skip
    return render(request, "find/search.html", {
        "values": values, "errors": errors, "general": general, "items": page["items"], "more": more,
        "searched": searched, "around_city": around_city,
        "specialty_options": [(s["code"], s["name"]) for s in specialties], "languages": LANGUAGES,
        "currencies": CURRENCIES, "sorts": SORTS, "radii": RADII, "today": date.today().isoformat(),  # noqa: DTZ011
    }, 422 if errors else 200, principal=principal)  # fmt: skip


def _parse_dt(value: Any) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def load_profile(request: Request, practitioner_id: uuid.UUID) -> dict[str, Any]:
    async with unit_of_work(db_of(request)) as session:
        profile: dict[str, Any] = orjson.loads(await search.public_profile(session, practitioner_id))
    profile["next_free"] = _parse_dt(profile.get("next_free_at"))
    return profile


async def profile_week(request: Request, profile: dict[str, Any], service_id: uuid.UUID, week: str | None,
                       path: str, params: dict[str, str]) -> Any:  # fmt: skip
    """The week grid of one listed practitioner's service, read in its tenant (free times are public)."""
    tz = profile["locations"][0]["timezone"] if profile["locations"] else "UTC"
    today = today_in(tz)
    first = max(parse_day(week, today), today)
    async with unit_of_work(db_of(request), tenant_id=uuid.UUID(profile["tenant_id"])) as session:
        result = await availability(session, practitioner_id=uuid.UUID(profile["practitioner_id"]),
                                    service_id=service_id, first_day=first, days=7)  # fmt: skip
    return week_grid(result, first, tz, path, params, today)


@router.get("/doctors/{practitioner_id}")
async def doctor(request: Request, practitioner_id: str, service: str = "", week: str = "") -> Response:
    principal = await optional_principal(request)
    pid = parse_uuid(practitioner_id)
    profile = await load_profile(request, pid)
    services = profile["services"]
    chosen = next((s for s in services if s["id"] == service), services[0] if services else None)
    grid = None
    if chosen is not None:
        grid = await profile_week(request, profile, uuid.UUID(chosen["id"]), week, f"/doctors/{pid}",
                                  {"service": chosen["id"]})  # fmt: skip
    is_patient = principal is not None and principal.role is Role.PATIENT
    other_tenant = is_patient and principal is not None and str(principal.tenant_id) != profile["tenant_id"]
    wait_from = grid.first_day if grid else date.today()  # noqa: DTZ011
    return render(request, "find/doctor.html", {
        "d": profile, "services": services, "service": chosen, "grid": grid, "is_patient": is_patient,
        "other_tenant": other_tenant, "signed_in": principal is not None,
        "wait_values": {"earliest_date": wait_from.isoformat(),
                        "latest_date": (wait_from + timedelta(days=13)).isoformat()},
    }, principal=principal)  # fmt: skip
