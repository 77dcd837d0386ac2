"""Availability: a practitioner's free slots for a service, for signed-in bookers (patients, the desk)
and, for published practitioners, for anyone (the marketplace).

The hottest read we serve, so it takes the short way: no ORM session, the raw pool, and finished
answers from the availability cache (``avcache``) for a principal the principal cache vouches for.
Authentication and permissions are the same as everywhere (``load_principal_raw``, ``enforce``)."""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from carebase.core.clock import utcnow
from carebase.core.context import actor_var, tenant_var
from carebase.core.db import raw_transaction
from carebase.core.errors import NotFound
from carebase.identity.deps import bearer_token, enforce, get_db
from carebase.identity.principal import Principal
from carebase.identity.principal_cache import PrincipalCache
from carebase.identity.sessions import load_principal_raw
from carebase.identity.tokens import verify_access_token
from carebase.scheduling.availability import Availability, availability_on
from carebase.scheduling.avcache import AvailabilityCache
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.schemas_booking import AvailabilityRead

router = APIRouter(tags=["booking"])
public_router = APIRouter(tags=["find a doctor"])

JSON = "application/json"
FirstDay = Annotated[date | None, Query(alias="from", description="First local date (default today)")]


def availability_body(result: Availability, service_id: uuid.UUID) -> bytes:
    """The availability document (shape: ``AvailabilityRead``), serialised straight to JSON: a week
    holds a few hundred slots, so no per-slot model objects."""
    zones = {loc: ZoneInfo(tz) for loc, tz in result.timezones.items()}
    utc = ZoneInfo("UTC")
    body = {
        "practitioner_id": result.practitioner_id, "service_id": service_id,
        "duration_minutes": result.service.duration_minutes, "price_minor": result.service.price_minor,
        "currency": result.service.currency, "mode": result.service.mode, "first_day": result.first_day,
        "last_day": result.last_day, "timezones": {str(k): v for k, v in result.timezones.items()},
        "slots": [
            {"starts_at": s.starts_at, "ends_at": s.ends_at, "location_id": s.location_id,
             "local_start": s.starts_at.astimezone(zones.get(s.location_id, utc))}
            for s in result.slots
        ],
    }  # fmt: skip
    return orjson.dumps(body)


def availability_response(result: Availability, service_id: uuid.UUID) -> Response:
    return Response(availability_body(result, service_id), media_type=JSON)


def _log_context(principal: Principal) -> None:
    tenant_var.set(str(principal.tenant_id))
    actor_var.set(str(principal.user_id))


async def _booker(request: Request) -> Principal:
    """The signed-in booker, from the principal cache or from the database (``app_authenticate`` on
    its own: one round trip, no transaction kept), checked for the permission to book."""
    claims = verify_access_token(bearer_token(request))
    principals: PrincipalCache = request.app.state.principal_cache
    principal = principals.get(claims)
    if principal is None:
        generation = principals.generation
        async with get_db(request).raw_connection() as conn:
            principal = await load_principal_raw(conn, claims)
        principals.put(principal, generation)
    _log_context(principal)
    await enforce(request, principal, P.APPOINTMENTS_BOOK)
    return principal


@router.get("/practitioners/{practitioner_id}/availability", response_model=AvailabilityRead)
async def practitioner_availability(
    request: Request,
    principal: Annotated[Principal, Depends(_booker)],  # first: 401/403 before any 422
    practitioner_id: uuid.UUID,
    service_id: uuid.UUID,
    start: FirstDay = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
) -> Response:
    cache: AvailabilityCache = request.app.state.availability_cache
    first_day = start or utcnow().date()
    key: Hashable = (principal.tenant_id, practitioner_id, service_id, first_day, days)
    body = cache.get(key)
    if body is not None:
        return Response(body, media_type=JSON)
    snapshot = cache.snapshot(principal.tenant_id, practitioner_id)
    now = utcnow()
    db = get_db(request)
    async with raw_transaction(db, tenant_id=principal.tenant_id, user_id=principal.user_id, readonly=True) as conn:
        result = await availability_on(
            conn, practitioner_id=practitioner_id, service_id=service_id, first_day=first_day, days=days, now=now
        )
    body = availability_body(result, service_id)
    cache.put(key, body, result, principal.tenant_id, snapshot, now)
    return Response(body, media_type=JSON)


_LISTED_TENANT = "SELECT tenant_id FROM directory_listings WHERE practitioner_id = $1 LIMIT 1"


@public_router.get("/directory/practitioners/{practitioner_id}/availability", response_model=AvailabilityRead)
async def public_availability(
    request: Request,
    practitioner_id: uuid.UUID,
    service_id: uuid.UUID,
    start: FirstDay = None,
    days: Annotated[int, Query(ge=1, le=14)] = 7,
) -> Response:
    """A published practitioner's free slots, no sign-in: the tenant context comes from the public
    listing (there is no token), in a READ ONLY transaction, and only derived free time is shown."""
    cache: AvailabilityCache = request.app.state.availability_cache
    first_day = start or utcnow().date()
    key: Hashable = ("public", practitioner_id, service_id, first_day, days)
    body = cache.get(key)
    if body is not None:
        return Response(body, media_type=JSON)
    db = get_db(request)
    tenant_id = cache.tenant_of(practitioner_id)
    if tenant_id is None:  # first sight: learn the tenant (it never changes) before taking the snapshot
        async with db.raw_connection() as conn:
            tenant_id = await conn.fetchval(_LISTED_TENANT, practitioner_id)
        if tenant_id is None:
            raise NotFound("No such practitioner in the directory.")
        cache.learn_tenant(practitioner_id, tenant_id)
    snapshot = cache.snapshot(tenant_id, practitioner_id)
    now = utcnow()
    async with raw_transaction(db, tenant_id=tenant_id, readonly=True) as conn:
        if await conn.fetchval(_LISTED_TENANT, practitioner_id) is None:  # unlisted since
            raise NotFound("No such practitioner in the directory.")
        result = await availability_on(
            conn, practitioner_id=practitioner_id, service_id=service_id, first_day=first_day, days=days, now=now
        )
    body = availability_body(result, service_id)
    cache.put(key, body, result, tenant_id, snapshot, now)
    return Response(body, media_type=JSON)
