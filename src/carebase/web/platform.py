"""Platform admin: tenants (hospitals and clinics) — list, create with a first admin, suspend, reactivate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError
from carebase.tenancy import service
from carebase.tenancy.permissions import TenancyPermission as P
from carebase.tenancy.schemas import TenantCreate, TenantUpdate
from carebase.web.auth import WebCtx, WebRoute, parse_uuid, web_require
from carebase.web.forms import errors_from_service, keep, read_form, validate
from carebase.web.templating import error_page, flash, render

router = APIRouter(route_class=WebRoute)

TenantsAdmin = Annotated[WebCtx, Depends(web_require(P.TENANTS_MANAGE))]
FIELDS = ("name", "slug", "kind", "country", "currency", "timezone", "admin_email", "admin_name")
KINDS = [("hospital", "Hospital"), ("clinic", "Clinic")]


async def _page(request: Request, ctx: WebCtx, q: str = "", extra: dict[str, Any] | None = None,
                status: int = 200) -> Response:  # fmt: skip
    async with ctx.uow() as session:
        tenants = await service.list_tenants(session, ctx.principal, q or None)
    context = {
        "tenants": tenants, "q": q, "kinds": KINDS,
        "values": {"kind": "hospital", "country": "IN", "currency": "INR", "timezone": "Asia/Kolkata"},
    }  # fmt: skip
    return render(request, "platform/tenants.html", context | (extra or {}), status)


@router.get("/platform/tenants")
async def tenants_page(request: Request, ctx: TenantsAdmin, q: str = "") -> Response:
    return await _page(request, ctx, q.strip()[:100])


@router.post("/platform/tenants")
async def create_tenant(request: Request, ctx: TenantsAdmin) -> Response:
    form = await read_form(request)
    data = {k: form.get(k, "") for k in FIELDS}
    for key in ("country", "currency"):
        data[key] = data[key].upper()
    data["slug"] = data["slug"].lower()
    body, errors = validate(TenantCreate, data)
    if body is not None:
        try:
            async with ctx.uow() as session:
                await service.create_tenant(session, ctx.principal, body)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
        else:
            flash(request, "tenant_created")
            return RedirectResponse("/platform/tenants", 303)
    return await _page(request, ctx, extra={"values": keep(form), "errors": errors}, status=422)


@router.post("/platform/tenants/{tenant_id}/status")
async def set_status(request: Request, tenant_id: str, ctx: TenantsAdmin) -> Response:
    form = await read_form(request)
    body, errors = validate(TenantUpdate, {"status": form.get("status", "")})
    if body is not None:
        try:
            async with ctx.uow() as session:
                await service.update_tenant(session, ctx.principal, parse_uuid(tenant_id), body)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
    if errors:
        return error_page(request, 422, "That change was not made", " ".join(errors.values()))
    flash(request, "tenant_updated")
    return RedirectResponse("/platform/tenants", 303)
