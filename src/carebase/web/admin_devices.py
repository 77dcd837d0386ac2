"""Device approvals (hospital admin): pending first, approve or revoke with htmx partial updates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import Conflict
from carebase.identity import devices
from carebase.identity.permissions import IdentityPermission as P
from carebase.web.auth import WebCtx, WebRoute, parse_uuid, web_require
from carebase.web.templating import partial, render

router = APIRouter(route_class=WebRoute)

DeviceManager = Annotated[WebCtx, Depends(web_require(P.DEVICES_MANAGE))]
STATUSES = ("pending", "approved", "revoked")


@router.get("/admin/devices")
async def list_page(request: Request, ctx: DeviceManager, status: str = "pending") -> Response:
    status = status if status in (*STATUSES, "all") else "pending"
    async with ctx.uow() as session:
        rows = await devices.list_devices(session, ctx.principal, status=None if status == "all" else status)
        pending = rows if status == "pending" else await devices.list_devices(session, ctx.principal, status="pending")
    pending_count = len(pending)
    return render(request, "admin/devices.html", {"rows": rows, "status": status, "pending": pending_count})


@router.post("/admin/devices/{device_id}/{decision}")
async def decide(request: Request, device_id: str, decision: str, ctx: DeviceManager) -> Response:
    if decision not in ("approve", "revoke"):
        return RedirectResponse("/admin/devices", 303)
    did = parse_uuid(device_id)
    note = None
    try:
        async with ctx.uow() as session:
            await devices.decide(session, ctx.principal, did, decision)
    except Conflict as exc:
        note = exc.detail
    async with ctx.uow() as session:
        device, user = await devices.get_device(session, ctx.principal, did)
    if request.headers.get("hx-request"):
        return partial(request, "admin/_device_row.html", {"d": device, "u": user, "note": note or "Saved."})
    return RedirectResponse("/admin/devices", 303)
