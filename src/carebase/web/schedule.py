"""The doctor's schedule: weekly template editor (sessions per weekday; add, edit, end; inline
errors; an overlap shown with the session it clashes with), time off, booking requests to approve
or decline, and "my day" and "my week". Hospital admins pick whose schedule they edit. The doctor's
own private calendar feed (iCalendar): its URL is shown once, when created or rotated."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError, NotFound, PermissionDenied
from carebase.core.pagination import PageRequest
from carebase.directory.models import Practitioner
from carebase.identity.deps import audit_denial
from carebase.identity.roles import Role
from carebase.scheduling import booking, calendars, queries, schedules
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.queries import AppointmentFilter
from carebase.scheduling.schemas_schedules import WEEKDAYS, ExceptionCreate, TemplateCreate, TemplateUpdate
from carebase.tenancy import service as tenancy
from carebase.web.auth import WebCtx, WebRoute, db_of, parse_uuid, web_require
from carebase.web.forms import blank_to_none, errors_from_service, keep, read_form, validate
from carebase.web.slots import cards, day_bounds, parse_day, today_in
from carebase.web.templating import flash, partial, render

router = APIRouter(route_class=WebRoute)

Editor = Annotated[WebCtx, Depends(web_require(P.TEMPLATES_MANAGE))]
Reader = Annotated[WebCtx, Depends(web_require(P.APPOINTMENTS_READ))]
TEMPLATE_FIELDS = ("location_id", "weekday", "start_time", "end_time", "slot_minutes", "valid_from", "valid_until")
WEEKDAY_OPTIONS = [(str(i), name) for i, name in enumerate(WEEKDAYS)]


async def _practitioner(session: AsyncSession, ctx: WebCtx, wanted: str | None) -> tuple[Any, list[Any]]:
    """The doctor's own profile; admins choose any active one (the first by name by default)."""
    if ctx.principal.role is Role.DOCTOR:
        own = (await session.execute(
            select(Practitioner).where(Practitioner.membership_id == ctx.principal.membership_id)
        )).scalar_one_or_none()  # fmt: skip
        return own, []
    everyone = list((await session.execute(
        select(Practitioner).where(Practitioner.is_active).order_by(Practitioner.display_name).limit(300)
    )).scalars())  # fmt: skip
    return next((p for p in everyone if str(p.id) == wanted), everyone[0] if everyone else None), everyone


def _q(practitioner: Any, ctx: WebCtx) -> str:
    return "" if ctx.principal.role is Role.DOCTOR else "?" + urlencode({"practitioner": str(practitioner.id)})


async def _page(request: Request, ctx: WebCtx, wanted: str | None, extra: dict[str, Any] | None = None,
                status: int = 200) -> Response:  # fmt: skip
    extra = extra or {}
    async with ctx.uow() as session:
        practitioner, everyone = await _practitioner(session, ctx, wanted)
        if practitioner is None:
            return render(request, "schedule/editor.html", {"practitioner": None, "everyone": everyone})
        locations = [loc for loc in await tenancy.list_locations(session, ctx.principal) if loc.is_active]
        templates = await schedules.list_templates(session, ctx.principal, practitioner.id)
        time_off = [e for e in await schedules.list_exceptions(session, ctx.principal, practitioner.id)
                    if e.kind == "time_off"]  # fmt: skip
        requests = []
        if ctx.principal.can(P.BOOKINGS_APPROVE) and practitioner.membership_id == ctx.principal.membership_id:
            rows, _ = await queries.list_appointments(session, ctx.principal, PageRequest(limit=50), AppointmentFilter(
                practitioner_id=practitioner.id, status="requested"))  # fmt: skip
            requests = await cards(session, rows)
    tz = locations[0].timezone if locations else "UTC"
    names = {loc.id: loc.name for loc in locations}
    by_day = {i: [t for t in templates if t.weekday == i] for i in range(7)}
    editing = next((t for t in templates if str(t.id) == extra.get("edit_id")), None)
    default = {"location_id": str(locations[0].id) if locations else "", "weekday": "0", "start_time": "09:00",
               "end_time": "13:00", "slot_minutes": "15", "valid_from": today_in(tz).isoformat()}  # fmt: skip
    context = {
        "practitioner": practitioner, "everyone": everyone, "by_day": by_day, "weekdays": WEEKDAYS,
        "weekday_options": WEEKDAY_OPTIONS, "location_options": [(str(x.id), x.name) for x in locations],
        "location_names": names, "time_off": time_off, "requests": requests, "tz": tz, "q": _q(practitioner, ctx),
        "values": default, "errors": {}, "editing": editing, "edit_values": {}, "edit_errors": {},
        "off_values": {}, "off_errors": {}, "clash_id": None, **_feed(ctx, practitioner),
    }  # fmt: skip
    if editing is not None and not extra.get("edit_values"):
        context["edit_values"] = {k: _text(getattr(editing, k)) for k in TEMPLATE_FIELDS}
    return render(request, "schedule/editor.html", context | extra, status)


def _feed(ctx: WebCtx, practitioner: Any) -> dict[str, Any]:
    """The calendar feed panel: only on the doctor's own schedule (the URL is their secret). Only a
    hash of the token is stored, so the URL itself can be shown only right after it is made."""
    own = practitioner.membership_id == ctx.principal.membership_id
    return {"feed_own": own, "feed_active": own and practitioner.calendar_token is not None, "feed_url": None}


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.strftime("%H:%M") if hasattr(value, "strftime") and not isinstance(value, date) else str(value)


@router.get("/schedule")
async def editor(request: Request, ctx: Editor, practitioner: str = "", edit: str = "") -> Response:
    return await _page(request, ctx, practitioner, {"edit_id": edit} if edit else None)


def _template_errors(errors: dict[str, str]) -> dict[str, str]:
    """Whole-form messages that are about one field go next to it."""
    general = errors.pop("__all__", None)
    if general:
        friendly = {"end_time": "End after the start time.", "valid_until": "End on or after the start date."}
        field = next((f for f in friendly if f in general.lower()), "__all__")
        errors.setdefault(field, friendly.get(field, general))
    return errors


def _clash(exc: CarebaseError) -> str | None:
    return getattr(exc, "extra", {}).get("conflicting_template_id")


async def _save_template(
    request: Request, ctx: WebCtx, schema: type[BaseModel], save: Callable[[AsyncSession, str, Any], Awaitable[object]],
    form_keys: tuple[str, str], extra: dict[str, Any],
) -> Response:
    """The add and edit forms' shared handling: validate, save in one unit of work, then back to the
    schedule, or the page again with the messages (409 when another template overlaps)."""
    form = await read_form(request)
    wanted = form.get("practitioner", "")
    data = blank_to_none({k: form.get(k, "") for k in TEMPLATE_FIELDS}, "valid_until")
    body, errors = validate(schema, data)
    clash = None
    if body is not None:
        try:
            async with ctx.uow() as session:
                await save(session, wanted, body)
        except CarebaseError as exc:
            errors, clash = errors_from_service(exc), _clash(exc)
        else:
            flash(request, "template_saved")
            return RedirectResponse("/schedule" + (f"?practitioner={wanted}" if wanted else ""), 303)
    values_key, errors_key = form_keys
    page = {**extra, values_key: keep(form), errors_key: _template_errors(errors), "clash_id": clash}
    return await _page(request, ctx, wanted, page, 409 if clash else 422)


@router.post("/schedule/templates")
async def add_template(request: Request, ctx: Editor) -> Response:
    async def save(session: AsyncSession, wanted: str, body: Any) -> None:
        practitioner, _ = await _practitioner(session, ctx, wanted)
        if practitioner is None:
            raise NotFound()
        await schedules.create_template(session, ctx.principal, practitioner.id, body)

    return await _save_template(request, ctx, TemplateCreate, save, ("values", "errors"), {})


@router.post("/schedule/templates/{template_id}")
async def edit_template(request: Request, template_id: str, ctx: Editor) -> Response:
    async def save(session: AsyncSession, _wanted: str, body: Any) -> None:
        await schedules.update_template(session, ctx.principal, parse_uuid(template_id), body)

    return await _save_template(
        request, ctx, TemplateUpdate, save, ("edit_values", "edit_errors"), {"edit_id": template_id}
    )


@router.post("/schedule/templates/{template_id}/end")
async def end_template(request: Request, template_id: str, ctx: Editor) -> Response:
    form = await read_form(request)
    async with ctx.uow() as session:
        await schedules.deactivate_template(session, ctx.principal, parse_uuid(template_id))
    flash(request, "template_ended")
    wanted = form.get("practitioner", "")
    return RedirectResponse("/schedule" + (f"?practitioner={wanted}" if wanted else ""), 303)


@router.post("/schedule/time-off")
async def add_time_off(request: Request, ctx: Editor) -> Response:
    form = await read_form(request)
    wanted = form.get("practitioner", "")
    data = {"kind": "time_off", "starts_at": form.get("starts_at", ""), "ends_at": form.get("ends_at", ""),
            "timezone": form.get("timezone") or "UTC", "reason": form.get("reason", "")}  # fmt: skip
    body, errors = validate(ExceptionCreate, data)
    if "__all__" in errors and "ends_at" in errors["__all__"].lower():
        message = errors.pop("__all__")
        errors["ends_at"] = "End after the start." if "after" in message else message
    if body is not None:
        try:
            async with ctx.uow() as session:
                practitioner, _ = await _practitioner(session, ctx, wanted)
                if practitioner is None:
                    raise NotFound()
                await schedules.create_exception(session, ctx.principal, practitioner.id, body)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
        else:
            flash(request, "time_off_added")
            return RedirectResponse("/schedule" + (f"?practitioner={wanted}" if wanted else "") + "#time-off", 303)
    return await _page(request, ctx, wanted, {"off_values": keep(form), "off_errors": errors}, 422)


@router.post("/schedule/time-off/{exception_id}/remove")
async def remove_time_off(request: Request, exception_id: str, ctx: Editor) -> Response:
    form = await read_form(request)
    async with ctx.uow() as session:
        await schedules.delete_exception(session, ctx.principal, parse_uuid(exception_id))
    flash(request, "time_off_removed")
    wanted = form.get("practitioner", "")
    return RedirectResponse("/schedule" + (f"?practitioner={wanted}" if wanted else "") + "#time-off", 303)


@router.post("/schedule/requests/{appointment_id}/{decision}")
async def decide(request: Request, appointment_id: str, decision: str, ctx: Editor) -> Response:
    if decision not in ("approve", "decline"):
        raise NotFound()
    try:
        async with ctx.uow() as session:
            await booking.transition(session, ctx.principal, parse_uuid(appointment_id), decision)
    except CarebaseError as exc:
        return await _page(request, ctx, None, {"request_error": exc.detail}, exc.status)
    flash(request, "approved" if decision == "approve" else "declined")
    return RedirectResponse("/schedule#requests", 303)


# --- my day and my week -------------------------------------------------------------------------------


async def _agenda(request: Request, ctx: WebCtx, start: str, days: int, wanted: str) -> Response:
    async with ctx.uow() as session:
        practitioner, everyone = await _practitioner(session, ctx, wanted)
        locations = [loc for loc in await tenancy.list_locations(session, ctx.principal) if loc.is_active]
        tz = locations[0].timezone if locations else "UTC"
        today = today_in(tz)
        first = parse_day(start, today)
        if days == 7:
            first -= timedelta(days=first.weekday())
        items = []
        if practitioner is not None:
            since, until = day_bounds(first, tz, days)
            rows, _ = await queries.list_appointments(session, ctx.principal, PageRequest(limit=100), AppointmentFilter(
                since=since, until=until, practitioner_id=practitioner.id))  # fmt: skip
            items = [c for c in await cards(session, rows) if c.a.status not in ("held", "rescheduled", "expired")]
    grouped = {first + timedelta(days=i): [c for c in items if c.local_start.date() == first + timedelta(days=i)]
               for i in range(days)}  # fmt: skip
    path = "/schedule/day" if days == 1 else "/schedule/week"
    suffix = "" if ctx.principal.role is Role.DOCTOR or practitioner is None else f"&practitioner={practitioner.id}"
    return render(request, "schedule/agenda.html", {
        "practitioner": practitioner, "everyone": everyone, "grouped": grouped, "days": days, "first": first,
        "today": today, "tz": tz, "total": len(items), "path": path, "suffix": suffix,
        "prev": f"{path}?date={(first - timedelta(days=days)).isoformat()}{suffix}",
        "next": f"{path}?date={(first + timedelta(days=days)).isoformat()}{suffix}",
    })  # fmt: skip


@router.get("/schedule/day")
async def my_day(request: Request, ctx: Reader, date: str = "", practitioner: str = "") -> Response:
    return await _agenda(request, ctx, date, 1, practitioner)


@router.get("/schedule/week")
async def my_week(request: Request, ctx: Reader, date: str = "", practitioner: str = "") -> Response:
    return await _agenda(request, ctx, date, 7, practitioner)


# --- private calendar feed ----------------------------------------------------------------------------


@router.post("/schedule/calendar-feed")
async def rotate_feed(request: Request, ctx: Editor) -> Response:
    """Create or replace the doctor's feed URL (the API's service: audited, the old URL dies at once).
    The new URL is in this response only (never logged, never stored in clear), so the page is
    rendered here instead of redirecting; htmx swaps just the panel."""
    url = None
    async with ctx.uow() as session:
        practitioner, _ = await _practitioner(session, ctx, None)
        if practitioner is not None and practitioner.membership_id == ctx.principal.membership_id:
            url = await calendars.rotate_calendar_token(session, ctx.principal, practitioner.id)
    if url is None:  # an admin (or a doctor without a profile): the feed is the doctor's own
        await audit_denial(db_of(request), ctx.principal, "own calendar feed", request.url.path)
        raise PermissionDenied("Only the doctor can see and change their own calendar feed.")
    if request.headers.get("hx-request"):
        return partial(request, "schedule/_feed.html", {"feed_active": True, "feed_url": url})
    return await _page(request, ctx, None, {"feed_url": url})
