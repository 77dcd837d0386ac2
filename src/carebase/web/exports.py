"""CSV exports with visible progress: a patient's own appointments (``/my/appointments``) and the front desk's
or admin's appointment list (the board's day). Starting one returns a status fragment that polls itself with htmx
every second until the job is done, then shows the download link; the download goes through the session cookie."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError
from carebase.jobs import exports
from carebase.jobs.models import Job
from carebase.jobs.permissions import JobsPermission as P
from carebase.web.auth import Web, WebCtx, WebRoute, parse_uuid, web_require
from carebase.web.forms import read_form
from carebase.web.templating import partial, render

router = APIRouter(route_class=WebRoute)

OwnExporter = Annotated[WebCtx, Depends(web_require(P.EXPORT_OWN))]
Exporter = Annotated[WebCtx, Depends(web_require(P.EXPORT_APPOINTMENTS))]
LABELS = {"my_appointments_export": "Your appointments", "appointments_export": "Appointments"}


def _status(request: Request, job: Job | None, error: str | None = None, status: int = 200) -> Response:
    context = {"job": job, "error": error, "label": LABELS.get(job.kind, "Export") if job else "Export"}
    if request.headers.get("hx-request"):
        return partial(request, "jobs/_export_status.html", context, status)
    return render(request, "jobs/export.html", context, status)


async def _start(request: Request, ctx: WebCtx, kind: str, f: exports.ExportFilter | None) -> Response:
    try:
        async with ctx.uow() as session:
            job = await exports.start_export(session, ctx.principal, kind, f)
            await session.refresh(job)
    except CarebaseError as exc:
        return _status(request, None, exc.detail, exc.status)
    if request.headers.get("hx-request"):
        return _status(request, job)
    return RedirectResponse(f"/exports/{job.id}", 303)


@router.post("/my/appointments/export")
async def export_mine(request: Request, ctx: OwnExporter) -> Response:
    return await _start(request, ctx, "my_appointments_export", None)


@router.post("/desk/export")
async def export_day(request: Request, ctx: Exporter) -> Response:
    form = await read_form(request)
    try:
        day: date | None = date.fromisoformat(form.get("date", ""))
    except ValueError:
        day = None
    # The board's day (every location: the export has no location filter); no day means everything.
    return await _start(request, ctx, "appointments_export", exports.ExportFilter(since=day, until=day))


@router.get("/exports/{job_id}")
async def progress(request: Request, job_id: str, ctx: Web) -> Response:
    async with ctx.uow() as session:
        job = await exports.get_job(session, ctx.principal, parse_uuid(job_id))
    return _status(request, job)


@router.get("/exports/{job_id}/download")
async def download(job_id: str, ctx: Web) -> Response:
    jid: uuid.UUID = parse_uuid(job_id)
    async with ctx.uow() as session:
        path = await exports.download_path(session, ctx.principal, jid)
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"appointments-{jid}.csv",
                        headers={"Cache-Control": "no-store"})  # fmt: skip
