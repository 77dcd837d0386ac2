"""Front desk: the waitlist. Who waits for which practitioner and service over which dates, the
offers made to them (with the hold's deadline), adding a patient on their behalf and removing an
entry. The same service functions as the API (``scheduling.waitlist``), so the same checks and audit
events; choices are checked against what the page offered first, so bad input is a 422 that writes
nothing. Included from ``desk.router``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError, NotFound, PermissionDenied
from carebase.core.pagination import PageRequest
from carebase.directory.models import Practitioner, PractitionerService, Service
from carebase.identity.deps import audit_denial
from carebase.identity.principal import Principal
from carebase.patients import service as patients
from carebase.patients.models import Patient
from carebase.scheduling import queries, waitlist
from carebase.scheduling.models import Appointment, WaitlistEntry
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.tenancy import service as tenancy
from carebase.web.auth import Web, WebCtx, WebRoute, db_of, parse_uuid
from carebase.web.forms import errors_from_service, keep, read_form
from carebase.web.slots import names_of, party_names, today_in
from carebase.web.templating import partial, render

router = APIRouter(route_class=WebRoute)

STATUSES = [("", "Waiting or offered"), ("waiting", "Waiting"), ("offered", "Offered")]
DEFAULT_DAYS = 14


def _require_all(*permissions: str):  # type: ignore[no-untyped-def]
    """Every one of ``permissions`` (the page's, and the API's for the same command); denials audited."""

    async def check(request: Request, ctx: Web) -> WebCtx:
        for permission in permissions:
            if not ctx.principal.can(permission):
                await audit_denial(db_of(request), ctx.principal, str(permission), request.url.path)
                raise PermissionDenied()
        return ctx

    return check


Viewer = Annotated[WebCtx, Depends(_require_all(P.WAITLIST_MANAGE))]
Manager = Annotated[WebCtx, Depends(_require_all(P.WAITLIST_MANAGE, P.APPOINTMENTS_BOOK))]


@dataclass(frozen=True, slots=True)
class Row:
    e: WaitlistEntry
    patient: str
    mrn: str
    practitioner: str
    service: str
    offered_at: datetime | None  # the start of the time offered, when there is an offer


async def _doctors(session: AsyncSession) -> list[Practitioner]:
    return list((await session.execute(
        select(Practitioner).where(Practitioner.is_active).order_by(Practitioner.display_name).limit(300)
    )).scalars())  # fmt: skip


async def _services_of(session: AsyncSession, practitioner_id: uuid.UUID | None) -> list[Service]:
    if practitioner_id is None:
        return []
    return list((await session.execute(
        select(Service).join(PractitionerService, PractitionerService.service_id == Service.id)
        .where(PractitionerService.practitioner_id == practitioner_id, Service.is_active).order_by(Service.name)
    )).scalars())  # fmt: skip


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def _rows(session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID | None,
                status: str) -> list[Row]:  # fmt: skip
    entries = await queries.waitlist(session, principal, practitioner_id)
    entries = [e for e in entries if not status or e.status == status]
    if not entries:
        return []

    people, doctors, services = await party_names(session, entries)
    offers = {e.offered_appointment_id for e in entries if e.status == "offered" and e.offered_appointment_id}
    starts = await names_of(session, Appointment, offers, Appointment.starts_at) if offers else {}
    rows = []
    for e in entries:
        given, family, mrn = people.get(e.patient_id, ("", "", ""))
        offered = starts.get(e.offered_appointment_id) if e.offered_appointment_id else None
        rows.append(Row(e, f"{given} {family}".strip() or "—", mrn, doctors.get(e.practitioner_id, ("—",))[0],
                        services.get(e.service_id, ("—",))[0], offered[0] if offered else None))  # fmt: skip
    return rows


async def _page(request: Request, ctx: WebCtx, params: dict[str, str], *, errors: dict[str, str] | None = None,
                status: int = 200, notice: str | None = None, list_error: str | None = None) -> Response:  # fmt: skip
    """The list (filtered by ``practitioner`` and ``status``) and the add form (``patient_id``,
    ``practitioner_id``, ``service_id``, dates) or the patient search (``q``) that leads to it."""
    principal = ctx.principal
    wanted_status = params.get("status", "") if params.get("status", "") in dict(STATUSES) else ""
    async with ctx.uow() as session:
        locations = [loc for loc in await tenancy.list_locations(session, principal) if loc.is_active]
        tz = locations[0].timezone if locations else "UTC"
        doctors = await _doctors(session)
        filter_doctor = next((d for d in doctors if str(d.id) == params.get("practitioner")), None)
        rows = await _rows(session, principal, filter_doctor.id if filter_doctor else None, wanted_status)
        patient = found = None
        q = params.get("q", "")[:100]
        if pid := _uuid(params.get("patient_id")):
            try:
                patient = await patients.get(session, principal, pid)
            except NotFound:
                patient = None
        if patient is None and q:
            found, _ = await patients.search(session, principal, PageRequest(limit=10), q=q)
        wanted = params.get("practitioner_id", params.get("practitioner", ""))
        chosen = next((d for d in doctors if str(d.id) == wanted), doctors[0] if len(doctors) == 1 else None)
        services = await _services_of(session, chosen.id if chosen else None)
    today = today_in(tz)
    values = {"earliest_date": today.isoformat(), "latest_date": (today + timedelta(days=DEFAULT_DAYS)).isoformat(),
              "practitioner_id": str(chosen.id) if chosen else ""} | keep(params)  # fmt: skip
    added = next((r for r in rows if str(r.e.id) == params.get("added")), None)
    if added is not None:
        notice = f"{added.patient} is on the waitlist for {added.practitioner}."
    elif params.get("removed") == "1":
        notice = "The entry is removed from the waitlist."
    filters = {k: v for k, v in (("practitioner", str(filter_doctor.id) if filter_doctor else ""),
                                 ("status", wanted_status)) if v}  # fmt: skip
    return render(request, "desk/waitlist.html", {
        "rows": rows, "tz": tz, "today": today, "doctors": doctors, "statuses": STATUSES,
        "filter_doctor": filter_doctor, "filter_status": wanted_status, "filter_query": urlencode(filters),
        "q": q, "found": found, "patient": patient, "values": values, "errors": errors or {},
        "doctor_options": [(str(d.id), d.display_name) for d in doctors],
        "service_options": [(str(s.id), f"{s.name} · {s.duration_minutes} min") for s in services],
        "notice": notice, "list_error": list_error, "chosen": chosen is not None,
        "added_id": str(added.e.id) if added else None,
        "waiting": sum(1 for r in rows if r.e.status == "waiting"),
        "offered": sum(1 for r in rows if r.e.status == "offered"),
    }, status)  # fmt: skip


@router.get("/desk/waitlist")
async def waitlist_page(request: Request, ctx: Viewer) -> Response:
    params = {k: v.strip() for k, v in request.query_params.items() if isinstance(v, str)}
    return await _page(request, ctx, params)


@router.get("/desk/waitlist/services")
async def service_options(request: Request, ctx: Viewer, practitioner_id: str = "") -> Response:
    """The service select for the chosen doctor (htmx swaps it in when the doctor changes)."""
    async with ctx.uow() as session:
        doctor = next((d for d in await _doctors(session) if str(d.id) == practitioner_id), None)
        services = await _services_of(session, doctor.id if doctor else None)
    options = [(str(s.id), f"{s.name} · {s.duration_minutes} min") for s in services]
    return partial(request, "desk/_waitlist_services.html", {
        "service_options": options, "values": {}, "errors": {}, "chosen": doctor is not None})  # fmt: skip


def _dates(form: dict[str, str], errors: dict[str, str]) -> tuple[date | None, date | None]:
    parsed: list[date | None] = []
    for name in ("earliest_date", "latest_date"):
        try:
            parsed.append(date.fromisoformat(form.get(name, "")))
        except ValueError:
            parsed.append(None)
            errors[name] = "Enter a date like 2026-05-01."
    return parsed[0], parsed[1]


@router.post("/desk/waitlist")
async def add(request: Request, ctx: Manager) -> Response:
    form = await read_form(request)
    errors: dict[str, str] = {}
    earliest, latest = _dates(form, errors)
    patient_id, practitioner_id, service_id = (_uuid(form.get(k)) for k in ("patient_id", "practitioner_id",
                                                                            "service_id"))  # fmt: skip
    status = 422
    async with ctx.uow() as session:  # read only: what the form may choose from
        doctors = {d.id for d in await _doctors(session)}
        offered = {s.id for s in await _services_of(session, practitioner_id if practitioner_id in doctors else None)}
        known_patient = patient_id is not None and await session.get(Patient, patient_id) is not None
    if not known_patient:
        errors["__all__"] = "Choose the patient again: that registration was not found."
    if practitioner_id not in doctors:
        errors["practitioner_id"] = "Choose a doctor."
    elif service_id not in offered:
        errors["service_id"] = "Choose a service this doctor offers."
    if not errors:
        assert patient_id and practitioner_id and service_id and earliest and latest
        try:
            async with ctx.uow() as session:
                entry = await waitlist.join(session, ctx.principal, patient_id=patient_id,
                                            practitioner_id=practitioner_id, service_id=service_id,
                                            earliest=earliest, latest=latest)  # fmt: skip
                added = entry.id
        except CarebaseError as exc:
            errors, status = errors_from_service(exc), exc.status
            if "patient_id" in errors:  # no field of its own on the page
                errors["__all__"] = errors.pop("patient_id")
        else:
            return RedirectResponse(f"/desk/waitlist?{urlencode({'added': str(added)})}#entry-{added}", 303)
    if errors.get("__all__", "").startswith("Choose the patient again"):
        form.pop("patient_id", None)
    return await _page(request, ctx, form, errors=errors, status=status)


@router.post("/desk/waitlist/{entry_id}/remove")
async def remove(request: Request, entry_id: str, ctx: Manager) -> Response:
    eid = parse_uuid(entry_id)
    form = await read_form(request)
    back = {k: form[k] for k in ("practitioner", "status") if form.get(k)}
    try:
        async with ctx.uow() as session:
            await waitlist.leave(session, ctx.principal, eid)
    except CarebaseError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _page(request, ctx, back, list_error=exc.detail, status=exc.status)
    return RedirectResponse("/desk/waitlist?" + urlencode(back | {"removed": "1"}), 303)
