"""Audit viewer (admins): filter by who, action prefix, outcome and date range; cursor paging."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from carebase.audit.permissions import AuditPermission as P
from carebase.audit.queries import AuditFilter, list_events
from carebase.core.errors import CarebaseError
from carebase.core.pagination import PageRequest
from carebase.identity import staff
from carebase.tenancy import service as tenancy
from carebase.web.auth import WebCtx, WebRoute, web_require
from carebase.web.forms import errors_from_service
from carebase.web.tables import table_state
from carebase.web.templating import render

router = APIRouter(route_class=WebRoute)

Reader = Annotated[WebCtx, Depends(web_require(P.READ))]
OUTCOMES = [("success", "Success"), ("failure", "Failure"), ("denied", "Denied")]
PREFIXES = ["auth.", "auth.login.", "auth.device.", "identity.staff.", "patients.", "patients.record.read",
            "tenancy.", "access.denied"]  # fmt: skip


def _day(value: str, tz: ZoneInfo, errors: dict[str, str], name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time.min, tzinfo=tz)
    except ValueError:
        errors[name] = "Enter a date like 2026-01-31."
        return None


@router.get("/admin/audit")
async def audit_page(
    request: Request, ctx: Reader, who: str = "", action: str = "", outcome: str = "",
    since: str = "", until: str = "", cursor: str = "",
) -> Response:  # fmt: skip
    errors: dict[str, str] = {}
    async with ctx.uow() as session:
        org = await tenancy.get_organization(session, ctx.principal.tenant_id)
        people, _ = await staff.list_staff(session, ctx.principal, PageRequest(limit=100))
    tz = ZoneInfo(org.timezone)
    actor = None
    if who:
        try:
            actor = uuid.UUID(who)
        except ValueError:
            errors["who"] = "Choose someone from the list."
    start = _day(since, tz, errors, "since")
    end = _day(until, tz, errors, "until")
    if start and end and end < start:
        errors["until"] = "The end is before the start."
    action = action.strip()[:80]
    outcome = outcome if outcome in dict(OUTCOMES) else ""
    rows, next_cursor = [], None
    if not errors:
        f = AuditFilter(actor_user_id=actor, action=action or None, outcome=outcome or None, since=start,
                        until=end + timedelta(days=1) if end else None)  # fmt: skip
        try:
            async with ctx.uow() as session:
                page = PageRequest(limit=50, cursor=cursor or None)
                rows, next_cursor = await list_events(session, ctx.principal, page, f)
        except CarebaseError as exc:
            errors = errors_from_service(exc)
    filters = {"who": who, "action": action, "outcome": outcome, "since": since, "until": until}
    return render(request, "admin/audit.html", {
        "rows": rows, "filters": filters, "errors": errors, "tz": org.timezone, "outcomes": OUTCOMES,
        "people": [(str(p.user_id), p.full_name) for p in people], "prefixes": PREFIXES,
        "table": table_state(request, filters, "-seq", cursor or None, next_cursor),
    })  # fmt: skip
