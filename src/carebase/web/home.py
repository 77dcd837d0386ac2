"""Role homes: what each role has today, from the services (and counts for the admin)."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from carebase.audit.permissions import AuditPermission
from carebase.audit.queries import AuditFilter, list_events
from carebase.core.clock import utcnow
from carebase.core.pagination import PageRequest
from carebase.identity import sessions
from carebase.identity.roles import ROLE_LABELS, TENANT_STAFF_ROLES, Role
from carebase.patients import service as patients
from carebase.patients.permissions import PatientPermission
from carebase.tenancy import service as tenancy
from carebase.tenancy.permissions import TenancyPermission
from carebase.web import stats
from carebase.web.auth import Web, WebRoute
from carebase.web.templating import render

router = APIRouter(route_class=WebRoute)

MANIFEST = {
    "name": "Carebase",
    "short_name": "Carebase",
    "description": "Clinics and hospitals on one platform.",
    "start_url": "/",
    "scope": "/",
    "display": "standalone",
    "background_color": "#f5f7fa",
    "theme_color": "#0b5cad",
    "icons": [{"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any maskable"}],
}


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    return Response(json.dumps(MANIFEST), media_type="application/manifest+json")


def _zone(locations: list, org_tz: str) -> str:  # type: ignore[type-arg]
    active = [loc for loc in locations if loc.is_active]
    return active[0].timezone if active else org_tz


@router.get("/")
async def home(request: Request, ctx: Web) -> Response:
    p = ctx.principal
    if p.role is Role.PLATFORM_ADMIN:
        return RedirectResponse("/platform/tenants", 303)
    if p.role is Role.PATIENT:
        return await _patient_home(request, ctx)
    async with ctx.uow() as session:
        org = await tenancy.get_organization(session, p.tenant_id)
        locations = await tenancy.list_locations(session, p) if p.can(TenancyPermission.LOCATIONS_READ) else []
        departments = await tenancy.list_departments(session, p) if p.can(TenancyPermission.DEPARTMENTS_READ) else []
        tz = _zone(locations, org.timezone)
        context = {
            "org": org, "locations": locations, "departments": departments, "tz": tz,
            "today": utcnow().astimezone(ZoneInfo(tz)),
            "can_register": p.can(PatientPermission.REGISTER), "can_search": p.can(PatientPermission.READ),
        }  # fmt: skip
        if p.role is Role.HOSPITAL_ADMIN:
            figures = await stats.admin_figures(session, p, tz)
            events = []
            if p.can(AuditPermission.READ):
                events, _ = await list_events(session, p, PageRequest(limit=8), AuditFilter())
            context |= {"figures": figures, "events": events, "charts": _charts(figures)}
            return render(request, "home/admin.html", context)
        context["patient_count"] = await stats.patient_count(session) if context["can_search"] else None
    return render(request, "home/staff.html", context)


def _charts(figures: stats.AdminFigures) -> dict[str, str]:
    roles = list(TENANT_STAFF_ROLES)
    staff = {
        "type": "bar", "label": "Active staff",
        "labels": [ROLE_LABELS[r] for r in roles], "values": [figures.staff_by_role.get(r.value, 0) for r in roles],
    }  # fmt: skip
    activity = {
        "type": "line", "label": "Audit events",
        "labels": [d.strftime("%a %d") for d, _ in figures.events_by_day],
        "values": [n for _, n in figures.events_by_day],
    }  # fmt: skip
    return {"staff": json.dumps(staff), "activity": json.dumps(activity)}


async def _patient_home(request: Request, ctx: Web) -> Response:
    p = ctx.principal
    async with ctx.uow() as session:
        records = await patients.own_records(session, p)
        org = await tenancy.get_organization(session, p.tenant_id)
        locations = [loc for loc in await tenancy.list_locations(session, p) if loc.is_active]
        live = await sessions.list_sessions(session, p)
    me = request.state.me
    context = {"records": records, "org": org, "locations": locations, "sessions": live, "me": me}
    return render(request, "home/patient.html", context)
