"""Calendar API: an appointment's .ics, the practitioner's feed token, and the public feed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from carebase.core.errors import PermissionDenied
from carebase.identity.deps import Auth, Ctx, audit_denial, get_db, require
from carebase.scheduling import calendars as service
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.schemas_schedules import CalendarTokenRead

router = APIRouter(tags=["calendars"])
public_router = APIRouter(tags=["calendars"])

ICS = "text/calendar; charset=utf-8"


def require_any(*permissions: str) -> Callable[..., Coroutine[Any, Any, Ctx]]:
    """Like ``require``, satisfied by any one of ``permissions``."""

    async def check(request: Request, ctx: Auth) -> Ctx:
        if not any(ctx.principal.can(p) for p in permissions):
            await audit_denial(get_db(request), ctx.principal, " | ".join(map(str, permissions)), request.url.path)
            raise PermissionDenied()
        return ctx

    return check


AppointmentReader = Annotated[Ctx, Depends(require_any(P.APPOINTMENTS_READ, P.APPOINTMENTS_BOOK))]
Manager = Annotated[Ctx, Depends(require(P.TEMPLATES_MANAGE))]


@router.get("/appointments/{appointment_id}/ics", response_class=Response)
async def appointment_ics(appointment_id: uuid.UUID, ctx: AppointmentReader) -> Response:
    """The appointment as an iCalendar file (staff, or the patient or guardian it is for)."""
    body = await service.appointment_calendar(ctx.session, ctx.principal, appointment_id)
    return Response(
        body, media_type=ICS,
        headers={"Content-Disposition": 'attachment; filename="appointment.ics"', "Cache-Control": "no-store"},
    )  # fmt: skip


@router.post("/practitioners/{practitioner_id}/calendar-token", response_model=CalendarTokenRead, status_code=201)
async def rotate_calendar_token(practitioner_id: uuid.UUID, ctx: Manager) -> CalendarTokenRead:
    """Create or replace the practitioner's private feed URL. The old URL stops working at once;
    the new one is shown only now."""
    url = await service.rotate_calendar_token(ctx.session, ctx.principal, practitioner_id)
    return CalendarTokenRead(practitioner_id=practitioner_id, url=url)


@public_router.get("/calendar/{token}.ics", response_class=Response, include_in_schema=False)
async def practitioner_feed(token: str, request: Request) -> Response:
    """A practitioner's private feed (no sign-in: the unguessable token is the credential)."""
    body = await service.practitioner_feed(get_db(request), token)
    return Response(body, media_type=ICS, headers={"Cache-Control": "private, max-age=300"})
