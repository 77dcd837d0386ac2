"""Public availability for the marketplace: a published practitioner's free slots, no login.

Public reads of published data take the tenant context from the public listing (not from a
token, since there is none), in a READ ONLY transaction, and return only derived free time."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import text

from carebase.core.clock import utcnow
from carebase.core.db import set_context
from carebase.core.errors import NotFound
from carebase.core.uow import unit_of_work
from carebase.identity.deps import get_db
from carebase.scheduling.api_availability import availability_response
from carebase.scheduling.availability import availability
from carebase.scheduling.schemas_booking import AvailabilityRead

router = APIRouter(tags=["find a doctor"])


@router.get("/directory/practitioners/{practitioner_id}/availability", response_model=AvailabilityRead)
async def public_availability(
    request: Request,
    practitioner_id: uuid.UUID,
    service_id: uuid.UUID,
    start: Annotated[date | None, Query(alias="from", description="First local date (default today)")] = None,
    days: Annotated[int, Query(ge=1, le=14)] = 7,
) -> Response:
    async with unit_of_work(get_db(request)) as session:
        await session.execute(text("SET TRANSACTION READ ONLY"))
        tenant_id = (
            await session.execute(
                text("SELECT tenant_id FROM directory_listings WHERE practitioner_id = :p LIMIT 1"),
                {"p": practitioner_id},
            )
        ).scalar_one_or_none()
        if tenant_id is None:
            raise NotFound("No such practitioner in the directory.")
        await set_context(session, tenant_id=tenant_id)
        result = await availability(
            session, practitioner_id=practitioner_id, service_id=service_id, first_day=start or utcnow().date(),
            days=days,
        )  # fmt: skip
    return availability_response(result, service_id)
