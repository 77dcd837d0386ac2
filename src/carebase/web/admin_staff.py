"""Staff (hospital admin): list with search, filters and paging; invite; change role; deactivate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError
from carebase.core.pagination import PageRequest
from carebase.identity import staff
from carebase.identity.permissions import IdentityPermission as P
from carebase.identity.roles import ROLE_LABELS, TENANT_STAFF_ROLES
from carebase.identity.schemas import StaffInvite, StaffUpdate
from carebase.tenancy import service as tenancy
from carebase.web.auth import WebCtx, WebRoute, parse_uuid, web_require
from carebase.web.forms import blank_to_none, errors_from_service, keep, read_form, validate
from carebase.web.tables import clean_sort, table_state
from carebase.web.templating import error_page, flash, render

router = APIRouter(route_class=WebRoute)

Reader = Annotated[WebCtx, Depends(web_require(P.STAFF_READ))]
Manager = Annotated[WebCtx, Depends(web_require(P.STAFF_MANAGE))]
ROLE_OPTIONS = [(r.value, ROLE_LABELS[r]) for r in TENANT_STAFF_ROLES]
STATUS_OPTIONS = [("active", "Active"), ("invited", "Invited"), ("deactivated", "Deactivated")]


@router.get("/admin/staff")
async def list_page(
    request: Request, ctx: Reader, q: str = "", role: str = "", status: str = "", sort: str = "", cursor: str = ""
) -> Response:
    q = q.strip()[:100]
    role = role if role in dict(ROLE_OPTIONS) else ""
    status = status if status in dict(STATUS_OPTIONS) else ""
    sort = clean_sort(sort, {"created_at", "role"}, "-created_at")
    errors: dict[str, str] = {}
    rows, next_cursor = [], None
    try:
        async with ctx.uow() as session:
            rows, next_cursor = await staff.list_staff(
                session, ctx.principal, PageRequest(limit=25, cursor=cursor or None, sort=sort),
                q=q or None, role=role or None, status=status or None,
            )  # fmt: skip
    except CarebaseError as exc:
        errors = errors_from_service(exc)
    return render(request, "admin/staff.html", {
        "rows": rows, "table": table_state(request, {"q": q, "role": role, "status": status}, sort, cursor or None,
                                           next_cursor),
        "filters": {"q": q, "role": role, "status": status}, "errors": errors, "role_options": ROLE_OPTIONS,
        "status_options": STATUS_OPTIONS, "can_manage": ctx.principal.can(P.STAFF_MANAGE),
    })  # fmt: skip


async def _departments(ctx: WebCtx) -> list[tuple[str, str]]:
    async with ctx.uow() as session:
        return [(str(d.id), d.name) for d in await tenancy.list_departments(session, ctx.principal) if d.is_active]


@router.get("/admin/staff/invite")
async def invite_page(request: Request, ctx: Manager) -> Response:
    return render(request, "admin/staff_invite.html", {
        "role_options": ROLE_OPTIONS, "departments": await _departments(ctx), "values": {"role": "doctor"},
    })  # fmt: skip


@router.post("/admin/staff/invite")
async def invite(request: Request, ctx: Manager) -> Response:
    form = await read_form(request)
    fields = ("email", "full_name", "role", "title", "department_id")
    body, errors = validate(StaffInvite, blank_to_none({k: form.get(k, "") for k in fields}, "title", "department_id"))
    if body is not None:
        try:
            async with ctx.uow() as session:
                await staff.invite(session, ctx.principal, body)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
        else:
            flash(request, "staff_invited")
            return RedirectResponse("/admin/staff", 303)
    return render(request, "admin/staff_invite.html", {
        "role_options": ROLE_OPTIONS, "departments": await _departments(ctx), "values": keep(form), "errors": errors,
    }, 422)  # fmt: skip


@router.post("/admin/staff/{membership_id}")
async def update(request: Request, membership_id: str, ctx: Manager) -> Response:
    form = await read_form(request)
    data = {k: form[k] for k in ("role", "status") if form.get(k)}
    body, errors = validate(StaffUpdate, data)
    if body is not None:
        try:
            async with ctx.uow() as session:
                await staff.update(session, ctx.principal, parse_uuid(membership_id), body)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
    if errors:
        return error_page(request, 422, "That change was not made", " ".join(errors.values()))
    flash(request, "staff_updated")
    back = form.get("back", "")
    return RedirectResponse(back if back.startswith("/admin/staff") else "/admin/staff", 303)
