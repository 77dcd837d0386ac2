"""Front desk: today's board per location (a column per practitioner, status chips, check-in,
start, no-show with htmx card swaps), cancel and reschedule from a card, and booking on behalf of
walk-in and phone patients (hold and confirm in one step). The waitlist pages live in
``desk_waitlist`` and are included in this router."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError, NotFound
from carebase.core.pagination import PageRequest
from carebase.directory.models import Practitioner, PractitionerService, Service
from carebase.identity.principal import Principal
from carebase.patients import service as patients
from carebase.scheduling import booking, queries
from carebase.scheduling.availability import availability
from carebase.scheduling.models import ScheduleTemplate
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.queries import AppointmentFilter
from carebase.tenancy import service as tenancy
from carebase.web import desk_waitlist
from carebase.web.auth import WebCtx, WebRoute, parse_uuid, web_require
from carebase.web.forms import errors_from_service, read_form
from carebase.web.slots import (
    by_practitioner,
    cards,
    day_bounds,
    parse_day,
    parse_slot,
    reschedule_week,
    today_in,
    week_grid,
)
from carebase.web.templating import flash, partial, render

router = APIRouter(route_class=WebRoute)

Desk = Annotated[WebCtx, Depends(web_require(P.APPOINTMENTS_MANAGE))]
Booker = Annotated[WebCtx, Depends(web_require(P.APPOINTMENTS_BOOK))]
HIDDEN = {"held", "rescheduled", "expired", "cancelled"}
ACTIONS = {"check-in": "check_in", "start": "start", "complete": "complete", "no-show": "no_show"}
SOURCES = [("walk_in", "Walk-in"), ("phone", "Phone call"), ("front_desk", "At the desk, for later")]


async def _location(session: AsyncSession, principal: Principal, wanted: str | None) -> tuple[list, Any]:  # type: ignore[type-arg]
    locations = [loc for loc in await tenancy.list_locations(session, principal) if loc.is_active]
    if not locations:
        return [], None
    chosen = next((loc for loc in locations if str(loc.id) == wanted), locations[0])
    return locations, chosen


async def _day_cards(session: AsyncSession, principal: Principal, location: Any, day: date) -> list:  # type: ignore[type-arg]
    since, until = day_bounds(day, location.timezone)
    f = AppointmentFilter(since=since, until=until, location_id=location.id)
    rows, cursor = await queries.list_appointments(session, principal, PageRequest(limit=100), f)
    for _ in range(9):  # a very busy site: up to 1,000 visits a day on one board
        if not cursor:
            break
        more, cursor = await queries.list_appointments(session, principal, PageRequest(limit=100, cursor=cursor), f)
        rows += more
    # A hold from the waitlist stays on the board (the time is spoken for: offered to a waiting patient);
    # a patient's own few-minute checkout holds do not.
    shown = [a for a in rows if a.status not in HIDDEN or (a.status == "held" and a.source == "waitlist")]
    return await cards(session, shown)


@router.get("/desk")
async def board(request: Request, ctx: Desk, date: str = "", location: str = "") -> Response:
    async with ctx.uow() as session:
        locations, loc = await _location(session, ctx.principal, location)
        if loc is None:
            return render(request, "desk/board.html", {"locations": [], "loc": None})
        today = today_in(loc.timezone)
        day = parse_day(date, today)
        items = await _day_cards(session, ctx.principal, loc, day)
        scheduled = set(
            (await session.execute(
                select(ScheduleTemplate.practitioner_id).where(
                    ScheduleTemplate.location_id == loc.id, ScheduleTemplate.is_active)
            )).scalars()
        )  # fmt: skip
        wanted = scheduled | {c.a.practitioner_id for c in items}
        doctors = list((await session.execute(
            select(Practitioner).where(Practitioner.id.in_(wanted), Practitioner.is_active)
            .order_by(Practitioner.display_name)
        )).scalars()) if wanted else []  # fmt: skip
    grouped = by_practitioner(items)
    counts = {s: sum(1 for c in items if c.a.status == s) for s in ("confirmed", "checked_in", "in_consultation",
                                                                      "completed", "no_show", "requested")}  # fmt: skip

    def link(d: date) -> str:
        return "/desk?" + urlencode({"date": d.isoformat(), "location": str(loc.id)})

    return render(request, "desk/board.html", {
        "locations": locations, "loc": loc, "day": day, "today": today, "doctors": doctors, "grouped": grouped,
        "counts": counts, "total": sum(1 for c in items if c.a.status != "held"), "today_link": link(today),
        "prev_link": link(day - timedelta(days=1)), "next_link": link(day + timedelta(days=1)),
    })  # fmt: skip


async def _card_response(request: Request, ctx: WebCtx, appointment_id: uuid.UUID, note: str | None,
                         error: bool) -> Response:  # fmt: skip
    async with ctx.uow() as session:
        a = await booking.get_for(session, ctx.principal, appointment_id)
        (card,) = await cards(session, [a])
    if request.headers.get("hx-request"):
        return partial(request, "desk/_card.html", {"c": card, "note": note, "note_error": error})
    query = urlencode({"date": card.local_start.date().isoformat(), "location": str(a.location_id)})
    return RedirectResponse(f"/desk?{query}", 303)


@router.post("/desk/appointments/{appointment_id}/cancel")
async def cancel(request: Request, appointment_id: str, ctx: Booker) -> Response:
    aid = parse_uuid(appointment_id)
    form = await read_form(request)
    reason = form.get("reason", "")
    note, error = "Cancelled.", False
    if len(reason) < 2:
        note, error = "Give a reason for the cancellation.", True
    else:
        try:
            async with ctx.uow() as session:
                await booking.cancel(session, ctx.principal, aid, reason[:500])
        except CarebaseError as exc:
            note, error = exc.detail, True
    return await _card_response(request, ctx, aid, note, error)


# --- reschedule from a card -----------------------------------------------------------------------


async def _reschedule_page(request: Request, ctx: WebCtx, aid: uuid.UUID, week: str, error: str | None = None,
                           status: int = 200) -> Response:  # fmt: skip
    async with ctx.uow() as session:
        card, grid = await reschedule_week(session, ctx.principal, aid, week, f"/desk/appointments/{aid}/reschedule",
                                           from_booking_week=True)  # fmt: skip
    return render(request, "desk/reschedule.html", {"c": card, "grid": grid, "error": error}, status)


@router.get("/desk/appointments/{appointment_id}/reschedule")
async def reschedule_page(request: Request, appointment_id: str, ctx: Booker, week: str = "") -> Response:
    return await _reschedule_page(request, ctx, parse_uuid(appointment_id), week)


@router.post("/desk/appointments/{appointment_id}/reschedule")
async def reschedule(request: Request, appointment_id: str, ctx: Booker) -> Response:
    aid = parse_uuid(appointment_id)
    form = await read_form(request)
    slot = parse_slot(form.get("slot", ""))
    if slot is None:
        return await _reschedule_page(request, ctx, aid, "", "Pick one of the free times.", 422)
    try:
        async with ctx.uow() as session:
            new = await booking.reschedule(session, ctx.principal, aid, slot[0], slot[1])
            (card,) = await cards(session, [new])
    except CarebaseError as exc:
        return await _reschedule_page(request, ctx, aid, "", exc.detail, exc.status)
    flash(request, "rescheduled")
    query = urlencode({"date": card.local_start.date().isoformat(), "location": str(new.location_id)})
    return RedirectResponse(f"/desk?{query}", 303)


# --- book on behalf ---------------------------------------------------------------------------------


async def _book_context(session: AsyncSession, principal: Principal, params: dict[str, str]) -> dict[str, Any]:
    context: dict[str, Any] = {
        "q": params.get("q", "")[:100], "found": None, "patient": None, "grid": None, "values": params,
        "sources": SOURCES, "service_options": [], "doctor_options": [],
    }  # fmt: skip
    if params.get("patient_id"):
        try:
            context["patient"] = await patients.get(session, principal, uuid.UUID(params["patient_id"]))
        except (ValueError, NotFound):
            context["patient"] = None
    if context["patient"] is None:
        if context["q"]:
            context["found"], _ = await patients.search(session, principal, PageRequest(limit=10), q=context["q"])
        return context
    doctors = list((await session.execute(
        select(Practitioner).where(Practitioner.is_active).order_by(Practitioner.display_name).limit(300)
    )).scalars())  # fmt: skip
    context["doctor_options"] = [(str(d.id), d.display_name) for d in doctors]
    doctor = next((d for d in doctors if str(d.id) == params.get("practitioner_id")), None)
    if doctor is None:
        return context
    offered = list((await session.execute(
        select(Service).join(PractitionerService, PractitionerService.service_id == Service.id)
        .where(PractitionerService.practitioner_id == doctor.id, Service.is_active).order_by(Service.name)
    )).scalars())  # fmt: skip
    context["service_options"] = [(str(s.id), f"{s.name} · {s.duration_minutes} min") for s in offered]
    chosen = next((s for s in offered if str(s.id) == params.get("service_id")), offered[0] if offered else None)
    if chosen is None:
        return context
    params["service_id"] = str(chosen.id)
    locations = {loc.id: loc for loc in await tenancy.list_locations(session, principal)}
    tz = next(iter(locations.values())).timezone if locations else "UTC"
    today = today_in(tz)
    first = max(parse_day(params.get("week"), today), today)
    result = await availability(session, practitioner_id=doctor.id, service_id=chosen.id, first_day=first, days=7)
    keep = {k: params[k] for k in ("patient_id", "practitioner_id", "service_id") if params.get(k)}
    context["grid"] = week_grid(result, first, tz, "/desk/book", keep, today)
    context["doctor"], context["service"] = doctor, chosen
    return context


@router.get("/desk/book")
async def book_page(request: Request, ctx: Booker) -> Response:
    params = {k: v.strip() for k, v in request.query_params.items() if isinstance(v, str)}
    async with ctx.uow() as session:
        context = await _book_context(session, ctx.principal, params)
    return render(request, "desk/book.html", context)


@router.post("/desk/book")
async def book(request: Request, ctx: Booker) -> Response:
    form = await read_form(request)
    slot = parse_slot(form.get("slot", ""))
    source = form.get("source", "walk_in")
    error, status = None, 422
    if slot is None:
        error = "Pick one of the free times."
    elif source not in dict(SOURCES):
        error = "Say how the patient booked."
    else:
        try:
            async with ctx.uow() as session:
                hold = await booking.place_hold(session, ctx.principal, booking.HoldRequest(
                    practitioner_id=parse_uuid(form.get("practitioner_id", "")),
                    service_id=parse_uuid(form.get("service_id", "")),
                    patient_id=parse_uuid(form.get("patient_id", "")),
                    starts_at=slot[0], location_id=slot[1], source=source, reason=form.get("reason", "")[:500],
                ))  # fmt: skip
                done = await booking.confirm(session, ctx.principal, hold.id)
                (card,) = await cards(session, [done])
        except CarebaseError as exc:
            error, status = next(iter(errors_from_service(exc).values())), exc.status
        else:
            flash(request, "booked" if done.status == "confirmed" else "requested")
            query = urlencode({"date": card.local_start.date().isoformat(), "location": str(done.location_id)})
            return RedirectResponse(f"/desk?{query}", 303)
    async with ctx.uow() as session:
        context = await _book_context(session, ctx.principal, {k: v for k, v in form.items() if k != "slot"})
    return render(request, "desk/book.html", context | {"form_error": error}, status)


# Last: the catch-all step route must not shadow /reschedule and /cancel.
@router.post("/desk/appointments/{appointment_id}/{step}")
async def step(request: Request, appointment_id: str, step: str, ctx: Desk) -> Response:
    if step not in ACTIONS:
        raise NotFound()
    aid = parse_uuid(appointment_id)
    note, error = None, False
    try:
        async with ctx.uow() as session:
            await booking.transition(session, ctx.principal, aid, ACTIONS[step])
    except CarebaseError as exc:
        note, error = exc.detail, True
    return await _card_response(request, ctx, aid, note, error)


router.include_router(desk_waitlist.router)
