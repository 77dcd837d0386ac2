"""Dead letters (hospital admin: its organisation's; platform admin: every organisation's): events the worker
gave up on, with Retry and Discard (htmx row swaps, a confirm before discarding)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import Conflict
from carebase.core.outbox import OutboxEvent
from carebase.jobs import deadletters
from carebase.jobs.permissions import JobsPermission as P
from carebase.tenancy.models import Organization
from carebase.web.auth import WebCtx, WebRoute, parse_uuid, web_require
from carebase.web.templating import partial, render

router = APIRouter(route_class=WebRoute)

DeadLetterAdmin = Annotated[WebCtx, Depends(web_require(P.DEAD_LETTERS))]
LIMIT = 100


async def _tenant_names(session: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(ids)))
    return {i: n for i, n in rows.all()}


@router.get("/admin/dead-letters")
async def list_page(request: Request, ctx: DeadLetterAdmin) -> Response:
    async with ctx.uow() as session:
        rows = await deadletters.list_dead(session, ctx.principal, limit=LIMIT)
        names = await _tenant_names(session, {e.tenant_id for e in rows})
    return render(request, "jobs/dead_letters.html", {
        "rows": rows, "names": names, "limit": LIMIT, "all_tenants": ctx.principal.is_platform_admin,
    })  # fmt: skip


@router.post("/admin/dead-letters/{event_id}/{action}")
async def decide(request: Request, event_id: str, action: str, ctx: DeadLetterAdmin) -> Response:
    if action not in ("retry", "discard"):
        return RedirectResponse("/admin/dead-letters", 303)
    eid = parse_uuid(event_id)
    note, error = ("The worker picks it up now." if action == "retry" else None), False
    try:
        async with ctx.uow() as session:
            await (deadletters.retry if action == "retry" else deadletters.discard)(session, ctx.principal, eid)
    except Conflict as exc:
        note, error = exc.detail, True
    async with ctx.uow() as session:
        await deadletters.list_dead(session, ctx.principal, limit=1)  # the same scope (platform admin: all)
        event = await session.get(OutboxEvent, eid)
        names = await _tenant_names(session, {event.tenant_id} if event else set())
    if event is None:
        return RedirectResponse("/admin/dead-letters", 303)
    if request.headers.get("hx-request"):
        return partial(request, "jobs/_dead_letter_row.html", {"e": event, "names": names, "note": note,
                                                               "note_error": error})  # fmt: skip
    return RedirectResponse("/admin/dead-letters", 303)
