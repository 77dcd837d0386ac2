"""Locations and departments (hospital admin): list, create, edit; timezones validated. The organisation's
policy (booking rules among it) is edited on ``/admin/settings`` (``web.admin_settings``)."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError
from carebase.tenancy import service
from carebase.tenancy.permissions import TenancyPermission as P
from carebase.tenancy.schemas import DepartmentCreate, DepartmentUpdate, LocationCreate, LocationUpdate
from carebase.web.auth import WebCtx, WebRoute, parse_uuid, web_require
from carebase.web.forms import blank_to_none, errors_from_service, keep, read_form, validate
from carebase.web.templating import flash, render

router = APIRouter(route_class=WebRoute)

LocationManager = Annotated[WebCtx, Depends(web_require(P.LOCATIONS_MANAGE))]
DepartmentManager = Annotated[WebCtx, Depends(web_require(P.DEPARTMENTS_MANAGE))]
LOCATION_FIELDS = ("name", "address_line", "city", "postal_code", "country", "timezone", "latitude", "longitude",
                   "phone")  # fmt: skip
_ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


async def _page(request: Request, ctx: WebCtx, extra: dict[str, Any] | None = None, status: int = 200) -> Response:
    async with ctx.uow() as session:
        locations = await service.list_locations(session, ctx.principal)
        departments = await service.list_departments(session, ctx.principal)
        org = await service.get_organization(session, ctx.principal.tenant_id)
    names = {loc.id: loc.name for loc in locations}
    context = {
        "locations": locations, "departments": departments, "location_names": names, "zones": _ZONES,
        "loc_values": {"country": org.country, "timezone": org.timezone}, "loc_errors": {},
        "dep_values": {}, "dep_errors": {}, "location_options": [(str(x.id), x.name) for x in locations],
    }  # fmt: skip
    return render(request, "admin/locations.html", context | (extra or {}), status)


@router.get("/admin/locations")
async def list_page(request: Request, ctx: LocationManager) -> Response:
    return await _page(request, ctx)


def _location_data(form: dict[str, str]) -> dict[str, Any]:
    data = blank_to_none({k: form.get(k, "") for k in LOCATION_FIELDS}, "latitude", "longitude", "phone")
    if data.get("country"):
        data["country"] = str(data["country"]).upper()
    return data


@router.post("/admin/locations")
async def create_location(request: Request, ctx: LocationManager) -> Response:
    form = await read_form(request)
    body, errors = validate(LocationCreate, _location_data(form))
    if body is not None:
        try:
            async with ctx.uow() as session:
                await service.create_location(session, ctx.principal, body)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
        else:
            flash(request, "location_saved")
            return RedirectResponse("/admin/locations", 303)
    return await _page(request, ctx, {"loc_values": keep(form), "loc_errors": errors}, 422)


@router.get("/admin/locations/{location_id}")
async def edit_location_page(request: Request, location_id: str, ctx: LocationManager) -> Response:
    async with ctx.uow() as session:
        loc = await service.get_location(session, parse_uuid(location_id))
    values = {k: "" if getattr(loc, k) is None else str(getattr(loc, k)) for k in LOCATION_FIELDS}
    values["is_active"] = "on" if loc.is_active else ""
    return render(request, "admin/location_edit.html", {"loc": loc, "values": values, "zones": _ZONES})


@router.post("/admin/locations/{location_id}")
async def edit_location(request: Request, location_id: str, ctx: LocationManager) -> Response:
    form = await read_form(request)
    data = _location_data(form)
    data.pop("country", None)
    data["is_active"] = form.get("is_active") == "on"
    for key in ("address_line", "city", "postal_code"):
        data[key] = data.get(key) or ""
    body, errors = validate(LocationUpdate, data)
    lid = parse_uuid(location_id)
    if body is not None:
        try:
            async with ctx.uow() as session:
                await service.update_location(session, ctx.principal, lid, body)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
        else:
            flash(request, "location_saved")
            return RedirectResponse("/admin/locations", 303)
    async with ctx.uow() as session:
        loc = await service.get_location(session, lid)
    values = keep(form) | {"is_active": "on" if form.get("is_active") == "on" else ""}
    return render(request, "admin/location_edit.html", {"loc": loc, "values": values, "errors": errors,
                                                        "zones": _ZONES}, 422)  # fmt: skip


@router.post("/admin/departments")
async def create_department(request: Request, ctx: DepartmentManager) -> Response:
    form = await read_form(request)
    data = blank_to_none({"name": form.get("name", ""), "location_id": form.get("location_id", "")}, "location_id")
    body, errors = validate(DepartmentCreate, data)
    if body is not None:
        try:
            async with ctx.uow() as session:
                await service.create_department(session, ctx.principal, body)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
        else:
            flash(request, "department_saved")
            return RedirectResponse("/admin/locations#departments", 303)
    return await _page(request, ctx, {"dep_values": keep(form), "dep_errors": errors}, 422)


@router.post("/admin/departments/{department_id}")
async def update_department(request: Request, department_id: str, ctx: DepartmentManager) -> Response:
    form = await read_form(request)
    data: dict[str, Any] = {"is_active": form.get("is_active") == "on"}
    if form.get("name"):
        data["name"] = form["name"]
    if "location_id" in form:
        data["location_id"] = form.get("location_id") or None
    body, errors = validate(DepartmentUpdate, data)
    if body is not None:
        try:
            async with ctx.uow() as session:
                await service.update_department(session, ctx.principal, parse_uuid(department_id), body)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
    if errors:
        return await _page(request, ctx, {"dep_row_errors": {department_id: " ".join(errors.values())}}, 422)
    flash(request, "department_saved")
    return RedirectResponse("/admin/locations#departments", 303)
