"""Directory API: the public marketplace (no sign-in) and the tenant's profiles and services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from carebase.core.api import PageParams
from carebase.core.errors import PermissionDenied
from carebase.core.schemas import Page
from carebase.directory import cache as directory_cache
from carebase.directory import search, service
from carebase.directory.permissions import DirectoryPermission as P
from carebase.directory.schemas import (
    Mode,
    PractitionerCreate,
    PractitionerRead,
    PractitionerUpdate,
    PublicProfile,
    SearchFilters,
    SearchPage,
    ServiceCreate,
    ServiceRead,
    ServicesSet,
    ServiceUpdate,
    SpecialtiesSet,
    SpecialtyRead,
)
from carebase.identity.deps import Auth, Ctx, audit_denial, get_db, require

public_router = APIRouter(prefix="/directory", tags=["directory (public)"])
router = APIRouter(tags=["directory"])


async def _fresh_after_commit() -> AsyncIterator[None]:
    """Declared before the unit of work, so it ends after the commit: the cache has switched
    generation before the response leaves, and the caller's next read sees the change."""
    yield
    await directory_cache.flush()


# Listed first in each write endpoint's parameters (dependencies end in reverse order).
FreshCache = Annotated[None, Depends(_fresh_after_commit, scope="function")]


def require_any(*permissions: str) -> Callable[..., Coroutine[Any, Any, Ctx]]:
    """Default deny unless the principal holds one of these (the service checks the rest, e.g. own profile)."""

    async def check(request: Request, ctx: Auth) -> Ctx:
        if not any(ctx.principal.can(p) for p in permissions):
            await audit_denial(get_db(request), ctx.principal, " | ".join(map(str, permissions)), request.url.path)
            raise PermissionDenied()
        return ctx

    return check


Reader = Annotated[Ctx, Depends(require(P.READ))]
ProfileEditor = Annotated[Ctx, Depends(require_any(P.PROFILES_MANAGE, P.PROFILE_OWN))]
ServiceManager = Annotated[Ctx, Depends(require(P.SERVICES_MANAGE))]

JSON = "application/json"


# --- public ---------------------------------------------------------------------------------------


class SearchQuery(BaseModel):
    """The search's query parameters, checked one by one (as FastAPI checks declared query parameters)."""

    specialty: Annotated[str | None, Field(max_length=60, description="A specialty code")] = None
    q: Annotated[str | None, Field(min_length=2, max_length=100, description="Name, specialty or condition")] = None
    lat: Annotated[float | None, Field(ge=-90, le=90)] = None
    lon: Annotated[float | None, Field(ge=-180, le=180)] = None
    radius_km: Annotated[
        float | None,
        Field(description="Kilometres around lat/lon, or around the city's centre with city; default 50, at most 200"),
    ] = None
    city: Annotated[
        str | None,
        Field(
            min_length=2, max_length=120,
            description="A city name, any case. Alone: listings in that city only. With radius_km or sort=distance: "
            "listings within the radius of the city's centre (the centre of the places its clinics list), nearby "
            "towns included; 422 if no clinic lists the city. Not with lat/lon",
        ),
    ] = None
    min_price: Annotated[int | None, Field(ge=0, description="Minor units (paise, pence)")] = None
    max_price: Annotated[int | None, Field(ge=0, description="Minor units (paise, pence)")] = None
    currency: Annotated[str | None, Field(pattern=r"^[A-Z]{3}$")] = None
    language: Annotated[str | None, Field(max_length=8, description="ISO 639-1, e.g. hi")] = None
    mode: Mode | None = None
    available_before: Annotated[
        date | None,
        Field(
            description="A free slot on or before this date, in each clinic's own time zone: the next free time is "
            "before the midnight that ends this date where the clinic is (2026-12-01 in Asia/Kolkata: before "
            "2026-12-01T18:30:00Z)",
        ),
    ] = None
    sort: Annotated[
        str,
        Field(max_length=20, description="next_available (default), price or distance (from lat/lon or the city)"),
    ] = "next_available"
    limit: Annotated[int, Field(description=f"Results per page, at most {search.MAX_LIMIT}")] = 20
    cursor: Annotated[str | None, Field(max_length=500)] = None


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI query parameters for a model read by hand (the route declares none, to skip FastAPI's solver)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    params = []
    for name, prop in schema["properties"].items():
        param = {"name": name, "in": "query", "required": False, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


_VALIDATION_ERROR = {"$ref": "#/components/schemas/HTTPValidationError"}  # as FastAPI documents its own 422


def _filters(params: dict[str, str]) -> SearchFilters:
    try:
        f = SearchQuery.model_validate(params)
    except ValidationError as exc:
        errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    return SearchFilters(
        specialty=f.specialty, q=f.q.strip() if f.q else None, lat=f.lat, lon=f.lon, radius_km=f.radius_km,
        city=f.city.strip() if f.city else None, min_price=f.min_price, max_price=f.max_price, currency=f.currency,
        language=f.language, mode=f.mode, available_before=f.available_before, sort=f.sort, limit=f.limit,
        cursor=f.cursor,
    )  # fmt: skip


@public_router.get(
    "/search", response_model=SearchPage, openapi_extra={"parameters": _query_parameters(SearchQuery)},
    responses={422: {"description": "Validation Error", "content": {JSON: {"schema": _VALIDATION_ERROR}}}},
)  # fmt: skip
async def search_directory(request: Request) -> Response:
    """Practitioners of every organisation that publishes to the marketplace; no sign-in needed.
    One result per practitioner and location."""
    # The hot path: a cached page is found from the raw query string, without validation or the database.
    params = search.query_params(request.scope["query_string"])
    key, body = await search.cached_page(search.query_digest(params))
    if body is None:
        body = await search.search_listings(get_db(request), _filters(params), key)
    return Response(body, media_type=JSON)


@public_router.get("/specialties", response_model=list[SpecialtyRead])
async def list_specialties(request: Request) -> Response:
    return Response(await search.specialties_json(get_db(request)), media_type=JSON)


@public_router.get("/practitioners/{practitioner_id}", response_model=PublicProfile)
async def public_profile(practitioner_id: uuid.UUID, request: Request) -> Response:
    return Response(await search.public_profile(get_db(request), practitioner_id), media_type=JSON)


# --- the organisation's profiles and services -----------------------------------------------------


@router.get("/practitioners", response_model=Page[PractitionerRead])
async def list_practitioners(ctx: Reader, page: PageParams) -> Page[PractitionerRead]:
    items, cursor = await service.list_practitioners(ctx.session, ctx.principal, page)
    return Page(items=items, next_cursor=cursor)


@router.post("/practitioners", response_model=PractitionerRead, status_code=201)
async def create_practitioner(_: FreshCache, body: PractitionerCreate, ctx: ProfileEditor) -> PractitionerRead:
    return await service.create_practitioner(ctx.session, ctx.principal, body)


@router.get("/practitioners/{practitioner_id}", response_model=PractitionerRead)
async def read_practitioner(practitioner_id: uuid.UUID, ctx: Reader) -> PractitionerRead:
    return await service.get_practitioner(ctx.session, ctx.principal, practitioner_id)


@router.patch("/practitioners/{practitioner_id}", response_model=PractitionerRead)
async def update_practitioner(
    _: FreshCache, practitioner_id: uuid.UUID, body: PractitionerUpdate, ctx: ProfileEditor
) -> PractitionerRead:
    return await service.update_practitioner(ctx.session, ctx.principal, practitioner_id, body)


@router.put("/practitioners/{practitioner_id}/specialties", response_model=PractitionerRead)
async def set_specialties(
    _: FreshCache, practitioner_id: uuid.UUID, body: SpecialtiesSet, ctx: ProfileEditor
) -> PractitionerRead:
    return await service.set_specialties(ctx.session, ctx.principal, practitioner_id, body)


@router.put("/practitioners/{practitioner_id}/services", response_model=PractitionerRead)
async def set_services(
    _: FreshCache, practitioner_id: uuid.UUID, body: ServicesSet, ctx: ProfileEditor
) -> PractitionerRead:
    return await service.set_services(ctx.session, ctx.principal, practitioner_id, body)


@router.get("/services", response_model=Page[ServiceRead])
async def list_services(ctx: Reader, page: PageParams) -> Page[ServiceRead]:
    items, cursor = await service.list_services(ctx.session, ctx.principal, page)
    return Page(items=items, next_cursor=cursor)


@router.post("/services", response_model=ServiceRead, status_code=201)
async def create_service(_: FreshCache, body: ServiceCreate, ctx: ServiceManager) -> ServiceRead:
    return await service.create_service(ctx.session, ctx.principal, body)


@router.patch("/services/{service_id}", response_model=ServiceRead)
async def update_service(_: FreshCache, service_id: uuid.UUID, body: ServiceUpdate, ctx: ServiceManager) -> ServiceRead:
    return await service.update_service(ctx.session, ctx.principal, service_id, body)
