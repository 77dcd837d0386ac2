"""Booking API: availability, holds, confirm, cancel, reschedule, visit steps, lists, waitlist."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from functools import partial
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from carebase.core.api import PageParams
from carebase.core.idempotency import request_fingerprint, run_once_on
from carebase.core.schemas import Page
from carebase.identity.deps import Ctx, RawCtx, raw_require, require
from carebase.scheduling import booking, queries, waitlist
from carebase.scheduling.hold_confirm import HoldRequest, announce, confirm_on, hold_on
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.queries import AppointmentFilter
from carebase.scheduling.schemas_booking import (
    AppointmentRead,
    CancelRequest,
    HoldCreate,
    RescheduleRequest,
    WaitlistCreate,
    WaitlistRead,
)

router = APIRouter(tags=["booking"])

Booker = Annotated[Ctx, Depends(require(P.APPOINTMENTS_BOOK))]
Reader = Annotated[Ctx, Depends(require(P.APPOINTMENTS_READ))]
Manager = Annotated[Ctx, Depends(require(P.APPOINTMENTS_MANAGE))]
Approver = Annotated[Ctx, Depends(require(P.BOOKINGS_APPROVE))]
WaitlistManager = Annotated[Ctx, Depends(require(P.WAITLIST_MANAGE))]
IdempotencyKey = Annotated[str | None, Header(max_length=200)]


# Hold and confirm: each write is one statement that sets its own context (migration 0015), no transaction.
RawBooker = Annotated[RawCtx, Depends(raw_require(P.APPOINTMENTS_BOOK), scope="function")]


def _row(row: asyncpg.Record) -> dict[str, object]:
    return AppointmentRead.model_validate(dict(row)).model_dump(mode="json")


@router.post("/holds", response_model=AppointmentRead, status_code=201)
async def place_hold(
    body: HoldCreate, ctx: RawBooker, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    """Hold a free slot for a few minutes; confirm it with ``POST /appointments/{id}/confirm``."""

    async def run() -> object:
        held = await hold_on(ctx.conn, ctx.principal, HoldRequest(
            practitioner_id=body.practitioner_id, service_id=body.service_id, patient_id=body.patient_id,
            starts_at=body.starts_at, location_id=body.location_id, source=body.source, reason=body.reason,
        ), getattr(request.app.state, "hold_rules", None))  # fmt: skip
        ctx.after_commit.append(partial(announce, ctx.principal.tenant_id, held))
        return _row(held)

    return await run_once_on(
        ctx.conn, tenant_id=ctx.principal.tenant_id, user_id=ctx.principal.user_id, key=idempotency_key,
        fingerprint=lambda: request_fingerprint("POST", "/holds", body.model_dump(mode="json")), status_code=201,
        run=run,
    )  # fmt: skip


@router.post("/appointments/{appointment_id}/confirm", response_model=AppointmentRead)
async def confirm(appointment_id: uuid.UUID, ctx: RawBooker, idempotency_key: IdempotencyKey = None) -> Response:
    async def run() -> object:
        booked = await confirm_on(ctx.conn, ctx.principal, appointment_id)
        ctx.after_commit.append(partial(announce, ctx.principal.tenant_id, booked))
        return _row(booked)

    return await run_once_on(
        ctx.conn, tenant_id=ctx.principal.tenant_id, user_id=ctx.principal.user_id, key=idempotency_key,
        fingerprint=lambda: request_fingerprint("POST", f"/appointments/{appointment_id}/confirm", {}),
        status_code=200, run=run,
    )  # fmt: skip


@router.post("/appointments/{appointment_id}/cancel", response_model=AppointmentRead)
async def cancel(appointment_id: uuid.UUID, body: CancelRequest, ctx: Booker) -> AppointmentRead:
    return AppointmentRead.model_validate(await booking.cancel(ctx.session, ctx.principal, appointment_id, body.reason))


@router.post("/appointments/{appointment_id}/reschedule", response_model=AppointmentRead, status_code=201)
async def reschedule(appointment_id: uuid.UUID, body: RescheduleRequest, ctx: Booker) -> AppointmentRead:
    new = await booking.reschedule(ctx.session, ctx.principal, appointment_id, body.starts_at, body.location_id)
    return AppointmentRead.model_validate(new)


@router.post("/appointments/{appointment_id}/approve", response_model=AppointmentRead)
async def approve(appointment_id: uuid.UUID, ctx: Approver) -> AppointmentRead:
    return AppointmentRead.model_validate(
        await booking.transition(ctx.session, ctx.principal, appointment_id, "approve")
    )


@router.post("/appointments/{appointment_id}/decline", response_model=AppointmentRead)
async def decline(appointment_id: uuid.UUID, ctx: Approver) -> AppointmentRead:
    return AppointmentRead.model_validate(
        await booking.transition(ctx.session, ctx.principal, appointment_id, "decline")
    )


Step = Literal["check-in", "start", "complete", "no-show"]


@router.post("/appointments/{appointment_id}/{step}", response_model=AppointmentRead)
async def visit_step(appointment_id: uuid.UUID, step: Step, ctx: Manager) -> AppointmentRead:
    """The visit's steps at the desk and in the room: check-in, start, complete, no-show."""
    action = step.replace("-", "_")
    return AppointmentRead.model_validate(await booking.transition(ctx.session, ctx.principal, appointment_id, action))


@router.get("/appointments", response_model=Page[AppointmentRead])
async def list_appointments(
    ctx: Reader,
    page: PageParams,
    since: Annotated[date | None, Query(alias="from")] = None,
    until: Annotated[date | None, Query(alias="to")] = None,
    practitioner_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    status: Literal[
        "held",
        "requested",
        "confirmed",
        "checked_in",
        "in_consultation",
        "completed",
        "cancelled",
        "no_show",
        "rescheduled",
    ]
    | None = None,  # fmt: skip
) -> Page[AppointmentRead]:
    f = AppointmentFilter(
        since=datetime.combine(since, time(), tzinfo=UTC) if since else None,
        until=datetime.combine(until, time(), tzinfo=UTC) if until else None,
        practitioner_id=practitioner_id, location_id=location_id, patient_id=patient_id, status=status,
    )  # fmt: skip
    items, cursor = await queries.list_appointments(ctx.session, ctx.principal, page, f)
    return Page(items=[AppointmentRead.model_validate(a) for a in items], next_cursor=cursor)


@router.get("/appointments/{appointment_id}", response_model=AppointmentRead)
async def read_appointment(appointment_id: uuid.UUID, ctx: Booker) -> AppointmentRead:
    return AppointmentRead.model_validate(await booking.get_for(ctx.session, ctx.principal, appointment_id))


@router.get("/my/appointments", response_model=list[AppointmentRead])
async def my_appointments(ctx: Booker, when: Literal["upcoming", "past"] = "upcoming") -> list[AppointmentRead]:
    rows = await queries.my_appointments(ctx.session, ctx.principal, upcoming=when == "upcoming")
    return [AppointmentRead.model_validate(a) for a in rows]


@router.post("/waitlist", response_model=WaitlistRead, status_code=201)
async def join_waitlist(body: WaitlistCreate, ctx: Booker) -> WaitlistRead:
    entry = await waitlist.join(
        ctx.session, ctx.principal, patient_id=body.patient_id, practitioner_id=body.practitioner_id,
        service_id=body.service_id, earliest=body.earliest_date, latest=body.latest_date,
    )  # fmt: skip
    return WaitlistRead.model_validate(entry)


@router.get("/waitlist", response_model=list[WaitlistRead])
async def list_waitlist(ctx: WaitlistManager, practitioner_id: uuid.UUID | None = None) -> list[WaitlistRead]:
    return [WaitlistRead.model_validate(e) for e in await queries.waitlist(ctx.session, ctx.principal, practitioner_id)]


@router.get("/my/waitlist", response_model=list[WaitlistRead])
async def my_waitlist(ctx: Booker) -> list[WaitlistRead]:
    return [WaitlistRead.model_validate(e) for e in await queries.my_waitlist(ctx.session, ctx.principal)]


@router.delete("/waitlist/{entry_id}", response_model=WaitlistRead)
async def leave_waitlist(entry_id: uuid.UUID, ctx: Booker) -> WaitlistRead:
    return WaitlistRead.model_validate(await waitlist.leave(ctx.session, ctx.principal, entry_id))
