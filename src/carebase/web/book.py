"""Patient booking, mobile first: review a picked time and choose who it is for (self or a family
member), hold it, confirm before the hold runs out, then add it to a calendar. My appointments
(cancel with reason, reschedule with the slot picker), the waitlist and its offers.

Patients book in the tenant they are signed in to. A doctor of another clinic of the marketplace is
one step away: the review page offers to register there (details prefilled from the patient's own
record, confirmed or corrected), which moves the session to that clinic and comes back to the review."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.clock import utcnow
from carebase.core.errors import CarebaseError, NotFound, PermissionDenied
from carebase.identity.roles import Role
from carebase.patients import marketplace
from carebase.patients import service as patients
from carebase.patients.schemas import PatientCreate
from carebase.scheduling import booking, calendars, dependents, queries, waitlist
from carebase.tenancy.service import tenant_policy
from carebase.web.auth import Web, WebCtx, WebRoute, parse_uuid, set_session_cookies
from carebase.web.find import load_profile
from carebase.web.forms import errors_from_service, read_form, validate
from carebase.web.slots import cards, parse_slot, reschedule_week
from carebase.web.templating import flash, render

router = APIRouter(route_class=WebRoute)


async def _patient_ctx(ctx: Web) -> WebCtx:
    if ctx.principal.role is not Role.PATIENT:
        raise PermissionDenied("These pages are for patients. Staff book from the front desk.")
    return ctx


Patient = Annotated[WebCtx, Depends(_patient_ctx)]


async def _who_options(ctx: WebCtx) -> list[tuple[str, str]]:
    async with ctx.uow() as session:
        own = await patients.own_records(session, ctx.principal)
        family = await dependents.list_dependents(session, ctx.principal)
    options = [(str(p.id), f"Me ({p.given_name} {p.family_name})") for p in own]
    options += [(str(d.patient_id), f"{d.given_name} {d.family_name} ({d.relationship})") for d in family]
    return options


DETAILS = ("given_name", "family_name", "birth_date", "sex", "phone", "email")
SEXES = [("female", "Female"), ("male", "Male"), ("other", "Other"), ("unknown", "Prefer not to say")]


async def _join_form(request: Request, ctx: WebCtx, clinic_id: str, values: dict[str, str]) -> dict[str, Any]:
    """What the review shows for a doctor of another clinic: continue there if the patient already is
    registered (one click), else the details to register with, prefilled from their own record here."""
    member = any(str(m.tenant_id) == clinic_id and m.role == "patient" and m.status == "active"
                 for m in getattr(request.state, "memberships", []))  # fmt: skip
    prefill: dict[str, str] = {}
    if not member and "given_name" not in values:
        async with ctx.uow() as session:
            own = await marketplace.details_to_copy(session, ctx.principal)
        if own is not None:
            prefill = {k: str(v) for k, v in own.model_dump(include=set(DETAILS)).items() if v is not None}
    return {"member": member, "form": prefill | values, "sexes": SEXES}


async def _review(request: Request, ctx: WebCtx, values: dict[str, str], error: str | None = None,
                  status: int = 200, join_errors: dict[str, str] | None = None) -> Response:  # fmt: skip
    profile = await load_profile(request, parse_uuid(values.get("practitioner_id", "")))
    service = next((s for s in profile["services"] if s["id"] == values.get("service_id")), None)
    slot = parse_slot(values.get("slot", ""))
    if service is None or slot is None:
        raise NotFound()
    tz = next((loc["timezone"] for loc in profile["locations"] if loc["id"] == str(slot[1])), "UTC")
    other_tenant = profile["tenant_id"] != str(ctx.principal.tenant_id)
    context: dict[str, Any] = {"d": profile, "service": service, "slot": slot, "tz": tz, "values": values,
                               "error": error, "other_tenant": other_tenant}  # fmt: skip
    context["join_errors"] = join_errors or {}
    if other_tenant:
        context["who"], context["join"] = [], await _join_form(request, ctx, profile["tenant_id"], values)
    else:
        context["who"] = await _who_options(ctx)
    return render(request, "booking/review.html", context, status)


@router.get("/book")
async def review(request: Request, ctx: Patient) -> Response:
    values = {k: v for k, v in request.query_params.items() if k in ("practitioner_id", "service_id", "slot")}
    return await _review(request, ctx, values)


@router.post("/book/join")
async def join_clinic(request: Request, ctx: Patient) -> Response:
    """Register with the picked doctor's clinic (or continue there), then back to the review, now there."""
    form = await read_form(request)
    profile = await load_profile(request, parse_uuid(form.get("practitioner_id", "")))
    details = None
    if form.get("existing") != "1":
        # A blank field is a missing one: required names are reported, optional ones left out.
        details, errors = validate(PatientCreate, {k: form[k] for k in DETAILS if form.get(k)})
        if details is None:
            return await _review(request, ctx, form, status=422, join_errors=errors)
    try:
        async with ctx.uow() as session:
            joined = await marketplace.join_clinic(session, ctx.principal, uuid.UUID(profile["tenant_id"]), details)
    except CarebaseError as exc:
        return await _review(request, ctx, form, status=exc.status, join_errors=errors_from_service(exc))
    set_session_cookies(request, joined.tokens)
    flash(request, "switched")
    back = {k: form.get(k, "") for k in ("practitioner_id", "service_id", "slot")}
    return RedirectResponse("/book?" + urlencode(back), 303)


@router.post("/book/hold")
async def hold(request: Request, ctx: Patient) -> Response:
    form = await read_form(request)
    slot = parse_slot(form.get("slot", ""))
    if slot is None:
        raise NotFound()
    try:
        async with ctx.uow() as session:
            held = await booking.place_hold(session, ctx.principal, booking.HoldRequest(
                practitioner_id=parse_uuid(form.get("practitioner_id", "")),
                service_id=parse_uuid(form.get("service_id", "")), patient_id=parse_uuid(form.get("patient_id", "")),
                starts_at=slot[0], location_id=slot[1], reason=form.get("reason", "")[:500],
            ))  # fmt: skip
    except (CarebaseError, NotFound) as exc:
        return await _review(request, ctx, form, next(iter(errors_from_service(exc).values())), exc.status)
    return RedirectResponse(f"/book/{held.id}", 303)


async def _card(ctx: WebCtx, appointment_id: uuid.UUID) -> Any:
    async with ctx.uow() as session:
        a = await booking.get_for(session, ctx.principal, appointment_id)
        (card,) = await cards(session, [a])
    return card


@router.get("/book/{appointment_id}")
async def held_page(request: Request, appointment_id: str, ctx: Patient) -> Response:
    card = await _card(ctx, parse_uuid(appointment_id))
    return render(request, "booking/hold.html", {"c": card, "error": None, "left": _left(card)})


def _left(card: Any) -> int:
    expires = card.a.hold_expires_at
    return max(0, int((expires - utcnow()).total_seconds())) if expires else 0


@router.post("/book/{appointment_id}/confirm")
async def confirm(request: Request, appointment_id: str, ctx: Patient) -> Response:
    aid = parse_uuid(appointment_id)
    try:
        async with ctx.uow() as session:
            await booking.confirm(session, ctx.principal, aid)
    except CarebaseError as exc:
        card = await _card(ctx, aid)
        return render(request, "booking/hold.html", {"c": card, "error": exc.detail, "left": _left(card)}, exc.status)
    return RedirectResponse(f"/book/{aid}/done", 303)


@router.post("/book/{appointment_id}/release")
async def release(request: Request, appointment_id: str, ctx: Patient) -> Response:
    try:
        async with ctx.uow() as session:
            await booking.cancel(session, ctx.principal, parse_uuid(appointment_id), "Released before confirming")
    except CarebaseError:
        pass  # expired or already gone: nothing to release
    return RedirectResponse("/my/appointments", 303)


@router.get("/book/{appointment_id}/done")
async def done(request: Request, appointment_id: str, ctx: Patient) -> Response:
    card = await _card(ctx, parse_uuid(appointment_id))
    return render(request, "booking/done.html", {"c": card})


@router.get("/my/appointments/{appointment_id}/calendar.ics")
async def ics(appointment_id: str, ctx: Web) -> Response:
    async with ctx.uow() as session:
        body = await calendars.appointment_calendar(session, ctx.principal, parse_uuid(appointment_id))
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="appointment.ics"'})  # fmt: skip


# --- my appointments ---------------------------------------------------------------------------------


async def _mine(request: Request, ctx: WebCtx, notes: dict[str, tuple[str, bool]] | None = None,
                status: int = 200) -> Response:  # fmt: skip
    async with ctx.uow() as session:
        upcoming = await cards(session, await queries.my_appointments(session, ctx.principal, upcoming=True))
        past = await cards(session, await queries.my_appointments(session, ctx.principal, upcoming=False))
        cutoff = (await tenant_policy(session, ctx.principal.tenant_id)).cancellation_cutoff_hours
    upcoming = [c for c in upcoming if c.a.status not in ("rescheduled", "expired")]
    return render(request, "booking/mine.html", {"upcoming": upcoming, "past": past[:30], "notes": notes or {},
                                                 "cutoff": cutoff}, status)  # fmt: skip


@router.get("/my/appointments")
async def mine(request: Request, ctx: Patient) -> Response:
    return await _mine(request, ctx)


@router.post("/my/appointments/{appointment_id}/cancel")
async def cancel(request: Request, appointment_id: str, ctx: Patient) -> Response:
    form = await read_form(request)
    reason = form.get("reason", "")
    if len(reason) < 2:
        return await _mine(request, ctx, {appointment_id: ("Tell the clinic why, in a few words.", True)}, 422)
    try:
        async with ctx.uow() as session:
            await booking.cancel(session, ctx.principal, parse_uuid(appointment_id), reason[:500])
    except CarebaseError as exc:
        return await _mine(request, ctx, {appointment_id: (exc.detail, True)}, exc.status)
    flash(request, "cancelled")
    return RedirectResponse("/my/appointments", 303)


async def _reschedule(request: Request, ctx: WebCtx, aid: uuid.UUID, week: str | None, error: str | None = None,
                      status: int = 200) -> Response:  # fmt: skip
    async with ctx.uow() as session:
        card, grid = await reschedule_week(session, ctx.principal, aid, week, f"/my/appointments/{aid}/reschedule",
                                           from_booking_week=False)  # fmt: skip
    return render(request, "booking/reschedule.html", {"c": card, "grid": grid, "error": error}, status)


@router.get("/my/appointments/{appointment_id}/reschedule")
async def reschedule_page(request: Request, appointment_id: str, ctx: Patient, week: str = "") -> Response:
    return await _reschedule(request, ctx, parse_uuid(appointment_id), week)


@router.post("/my/appointments/{appointment_id}/reschedule")
async def reschedule(request: Request, appointment_id: str, ctx: Patient) -> Response:
    aid = parse_uuid(appointment_id)
    slot = parse_slot((await read_form(request)).get("slot", ""))
    if slot is None:
        return await _reschedule(request, ctx, aid, None, "Pick one of the free times.", 422)
    try:
        async with ctx.uow() as session:
            await booking.reschedule(session, ctx.principal, aid, slot[0], slot[1])
    except CarebaseError as exc:
        return await _reschedule(request, ctx, aid, None, exc.detail, exc.status)
    flash(request, "rescheduled")
    return RedirectResponse("/my/appointments", 303)


# --- waitlist ------------------------------------------------------------------------------------------


CHECK_FIELDS = "Check the fields marked below."


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def _waitlist_form(request: Request, pid: uuid.UUID, form: dict[str, str], errors: dict[str, str],
                         who: list[tuple[str, str]], status: int) -> Response:  # fmt: skip
    """The waitlist form again, with what was typed and each error next to its field."""
    # The ids are hidden fields: their errors have no field to stand next to.
    error = errors.get("__all__") or errors.get("service_id") or errors.get("practitioner_id") or CHECK_FIELDS
    context = {"rows": [], "error": error, "errors": errors, "form": form, "who": who,
               "practitioner_id": pid, "back": f"/doctors/{pid}"}  # fmt: skip
    return render(request, "booking/waitlist.html", context, status)


@router.post("/book/waitlist")
async def join_waitlist(request: Request, ctx: Patient) -> Response:
    form = await read_form(request)
    pid = parse_uuid(form.get("practitioner_id", ""))
    who = await _who_options(ctx)
    if not who:
        unlinked = {"__all__": "Your clinic has not linked a registration to your account yet."}
        return await _waitlist_form(request, pid, form, unlinked, who, 403)
    errors: dict[str, str] = {}
    dates: dict[str, date] = {}
    for name in ("earliest_date", "latest_date"):
        try:
            dates[name] = date.fromisoformat(form.get(name, ""))
        except ValueError:
            errors[name] = "Enter a date like 2026-05-01."
    patient_id = _uuid_or_none(form.get("patient_id") or who[0][0])
    if patient_id is None:
        errors["patient_id"] = "Choose one of the options."
    service_id = _uuid_or_none(form.get("service_id", ""))
    if service_id is None:
        errors["__all__"] = "Choose a service on the doctor's page first."
    if errors or patient_id is None or service_id is None:
        return await _waitlist_form(request, pid, form, errors, who, 422)
    try:
        async with ctx.uow() as session:
            await waitlist.join(session, ctx.principal, patient_id=patient_id, practitioner_id=pid,
                                service_id=service_id, earliest=dates["earliest_date"],
                                latest=dates["latest_date"])  # fmt: skip
    except CarebaseError as exc:
        return await _waitlist_form(request, pid, form, errors_from_service(exc), who, exc.status)
    flash(request, "waitlist_joined")
    return RedirectResponse("/my/waitlist", 303)


@router.get("/my/waitlist")
async def my_waitlist(request: Request, ctx: Patient) -> Response:
    async with ctx.uow() as session:
        entries = await queries.my_waitlist(session, ctx.principal)
        offers = {}
        for e in entries:
            if e.status == "offered" and e.offered_appointment_id:
                a = await booking.get_for(session, ctx.principal, e.offered_appointment_id)
                offers[e.id] = (await cards(session, [a]))[0]
        from carebase.directory.models import Practitioner

        names = {e.practitioner_id: (await session.get(Practitioner, e.practitioner_id)) for e in entries}
    rows = [(e, names[e.practitioner_id].display_name if names[e.practitioner_id] else "", offers.get(e.id))
            for e in entries]  # fmt: skip
    return render(request, "booking/waitlist.html", {"rows": rows, "error": None, "back": None, "form": None})


@router.post("/my/waitlist/{entry_id}/leave")
async def leave_waitlist(request: Request, entry_id: str, ctx: Patient) -> Response:
    try:
        async with ctx.uow() as session:
            await waitlist.leave(session, ctx.principal, parse_uuid(entry_id))
    except CarebaseError:
        pass
    flash(request, "waitlist_left")
    return RedirectResponse("/my/waitlist", 303)
