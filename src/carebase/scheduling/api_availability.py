"""Availability for signed-in bookers (patients, the desk): a practitioner's free slots for a service."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Depends, Query, Response

from carebase.core.clock import utcnow
from carebase.identity.deps import Ctx, require
from carebase.scheduling.availability import Availability, availability
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.schemas_booking import AvailabilityRead

router = APIRouter(tags=["booking"])

Booker = Annotated[Ctx, Depends(require(P.APPOINTMENTS_BOOK))]


def availability_response(result: Availability, service_id: uuid.UUID) -> Response:
    """The availability document (shape: ``AvailabilityRead``), serialised straight to JSON: a week
    holds a few hundred slots and this is the hottest read, so no per-slot model objects."""
    zones = {loc: ZoneInfo(tz) for loc, tz in result.timezones.items()}
    utc = ZoneInfo("UTC")
    body = {
        "practitioner_id": result.practitioner_id, "service_id": service_id,
        "duration_minutes": result.service.duration_minutes, "price_minor": result.service.price_minor,
        "currency": result.service.currency, "mode": result.service.mode, "first_day": result.first_day,
        "last_day": result.last_day, "timezones": {str(k): v for k, v in result.timezones.items()},
        "slots": [
            {"starts_at": s.starts_at, "ends_at": s.ends_at, "location_id": s.location_id,
             "local_start": s.starts_at.astimezone(zones.get(s.location_id, utc)).isoformat()}
            for s in result.slots
        ],
    }  # fmt: skip
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/practitioners/{practitioner_id}/availability", response_model=AvailabilityRead)
async def practitioner_availability(
    practitioner_id: uuid.UUID,
    ctx: Booker,
    service_id: uuid.UUID,
    start: Annotated[date | None, Query(alias="from", description="First local date (default today)")] = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
) -> Response:
    result = await availability(
        ctx.session, practitioner_id=practitioner_id, service_id=service_id,
        first_day=start or utcnow().date(), days=days,
    )  # fmt: skip
    return availability_response(result, service_id)
