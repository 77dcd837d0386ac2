"""Patient register: search (cursor paging, allowlisted sort), register with a validated form, open."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError
from carebase.core.pagination import PageRequest
from carebase.patients import service
from carebase.patients.permissions import PatientPermission as P
from carebase.patients.schemas import PatientCreate
from carebase.web.auth import WebCtx, WebRoute, parse_uuid, safe_next, web_require
from carebase.web.forms import blank_to_none, errors_from_service, keep, read_form, validate
from carebase.web.tables import clean_sort, table_state
from carebase.web.templating import flash, render

router = APIRouter(route_class=WebRoute)

Reader = Annotated[WebCtx, Depends(web_require(P.READ))]
Registrar = Annotated[WebCtx, Depends(web_require(P.REGISTER))]
SORTS = {"created_at", "family_name"}
SEX_OPTIONS = [("female", "Female"), ("male", "Male"), ("other", "Other"), ("unknown", "Not recorded")]


@router.get("/patients")
async def search(request: Request, ctx: Reader, q: str = "", sort: str = "", cursor: str = "") -> Response:
    sort = clean_sort(sort, SORTS, "-created_at")
    q = q.strip()[:100]
    errors: dict[str, str] = {}
    rows, next_cursor = [], None
    try:
        async with ctx.uow() as session:
            rows, next_cursor = await service.search(
                session, ctx.principal, PageRequest(limit=25, cursor=cursor or None, sort=sort), q=q or None
            )
    except CarebaseError as exc:
        errors = errors_from_service(exc)
    table = table_state(request, {"q": q}, sort, cursor or None, next_cursor)
    return render(request, "patients/search.html", {
        "rows": rows, "table": table, "q": q, "errors": errors, "can_register": ctx.principal.can(P.REGISTER),
    })  # fmt: skip


@router.get("/patients/new")
async def new_patient(request: Request, ctx: Registrar, next: str = "") -> Response:
    values = {"sex": "unknown", "next": safe_next(next, "")}
    return render(request, "patients/new.html", {"sex_options": SEX_OPTIONS, "values": values})


@router.post("/patients/new")
async def register(request: Request, ctx: Registrar) -> Response:
    form = await read_form(request)
    data = blank_to_none(
        {k: form.get(k, "") for k in ("given_name", "family_name", "birth_date", "sex", "phone", "email")},
        "birth_date", "phone", "email",
    )
    body, errors = validate(PatientCreate, data)
    if "destination" in errors:  # the phone check reuses the sign-in normaliser
        errors["phone"] = errors.pop("destination")
    if body is not None:
        try:
            async with ctx.uow() as session:
                patient = await service.register(session, ctx.principal, body)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
        else:
            flash(request, "patient_registered")
            then = safe_next(form.get("next"), "")
            if then:  # e.g. back to booking at the desk, with the new patient chosen
                return RedirectResponse(f"{then}{'&' if '?' in then else '?'}patient_id={patient.id}", 303)
            return RedirectResponse(f"/patients/{patient.id}", 303)
    context = {"sex_options": SEX_OPTIONS, "values": keep(form), "errors": errors}
    return render(request, "patients/new.html", context, status=422)


@router.get("/patients/{patient_id}")
async def open_patient(request: Request, patient_id: str, ctx: Reader) -> Response:
    async with ctx.uow() as session:
        patient = await service.get(session, ctx.principal, parse_uuid(patient_id))
    return render(request, "patients/detail.html", {"p": patient})
