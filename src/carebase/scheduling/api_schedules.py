"""Schedules API: weekly templates, exceptions (time off, extra sessions), holidays."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from carebase.identity.deps import Ctx, require
from carebase.scheduling import schedules as service
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.schemas_schedules import (
    ExceptionCreate,
    ExceptionRead,
    HolidayCreate,
    HolidayRead,
    TemplateCreate,
    TemplateRead,
    TemplateUpdate,
)

router = APIRouter(tags=["schedules"])

Reader = Annotated[Ctx, Depends(require(P.TEMPLATES_READ))]
Manager = Annotated[Ctx, Depends(require(P.TEMPLATES_MANAGE))]
HolidayManager = Annotated[Ctx, Depends(require(P.HOLIDAYS_MANAGE))]


@router.get("/practitioners/{practitioner_id}/templates", response_model=list[TemplateRead])
async def list_templates(practitioner_id: uuid.UUID, ctx: Reader, include_inactive: bool = False) -> list[TemplateRead]:
    rows = await service.list_templates(ctx.session, ctx.principal, practitioner_id, include_inactive=include_inactive)
    return [TemplateRead.model_validate(t) for t in rows]


@router.post("/practitioners/{practitioner_id}/templates", response_model=TemplateRead, status_code=201)
async def create_template(practitioner_id: uuid.UUID, body: TemplateCreate, ctx: Manager) -> TemplateRead:
    """Add a weekly session. Times are local wall times at the location; overlapping sessions of
    the same practitioner are refused with 409."""
    return TemplateRead.model_validate(await service.create_template(ctx.session, ctx.principal, practitioner_id, body))


@router.patch("/templates/{template_id}", response_model=TemplateRead)
async def update_template(template_id: uuid.UUID, body: TemplateUpdate, ctx: Manager) -> TemplateRead:
    return TemplateRead.model_validate(await service.update_template(ctx.session, ctx.principal, template_id, body))


@router.delete("/templates/{template_id}", status_code=204)
async def deactivate_template(template_id: uuid.UUID, ctx: Manager) -> Response:
    """End a weekly session (it is kept, inactive)."""
    await service.deactivate_template(ctx.session, ctx.principal, template_id)
    return Response(status_code=204)


@router.get("/practitioners/{practitioner_id}/exceptions", response_model=list[ExceptionRead])
async def list_exceptions(
    practitioner_id: uuid.UUID,
    ctx: Reader,
    after: Annotated[datetime | None, Query(description="Default: now")] = None,
    before: datetime | None = None,
) -> list[ExceptionRead]:
    rows = await service.list_exceptions(ctx.session, ctx.principal, practitioner_id, after=after, before=before)
    return [ExceptionRead.model_validate(x) for x in rows]


@router.post("/practitioners/{practitioner_id}/exceptions", response_model=ExceptionRead, status_code=201)
async def create_exception(practitioner_id: uuid.UUID, body: ExceptionCreate, ctx: Manager) -> ExceptionRead:
    """Time off or an extra session, as an absolute interval."""
    exception = await service.create_exception(ctx.session, ctx.principal, practitioner_id, body)
    return ExceptionRead.model_validate(exception)


@router.delete("/exceptions/{exception_id}", status_code=204)
async def delete_exception(exception_id: uuid.UUID, ctx: Manager) -> Response:
    await service.delete_exception(ctx.session, ctx.principal, exception_id)
    return Response(status_code=204)


@router.get("/holidays", response_model=list[HolidayRead])
async def list_holidays(
    ctx: Reader,
    start: Annotated[date | None, Query(alias="from", description="Default: today")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> list[HolidayRead]:
    holidays = await service.list_holidays(ctx.session, ctx.principal, start=start, end=end)
    return [HolidayRead.model_validate(h) for h in holidays]


@router.post("/holidays", response_model=HolidayRead, status_code=201)
async def create_holiday(body: HolidayCreate, ctx: HolidayManager) -> HolidayRead:
    return HolidayRead.model_validate(await service.create_holiday(ctx.session, ctx.principal, body))


@router.delete("/holidays/{holiday_id}", status_code=204)
async def delete_holiday(holiday_id: uuid.UUID, ctx: HolidayManager) -> Response:
    await service.delete_holiday(ctx.session, ctx.principal, holiday_id)
    return Response(status_code=204)
