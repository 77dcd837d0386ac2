"""Jobs API: start an export, follow its progress, download it; the dead-letter admin."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from carebase.identity.deps import Auth, Ctx, require
from carebase.jobs import deadletters, exports
from carebase.jobs.models import Job
from carebase.jobs.permissions import JobsPermission as P

router = APIRouter(tags=["jobs"])
DeadLetterAdmin = Annotated[Ctx, Depends(require(P.DEAD_LETTERS))]


class ExportCreate(BaseModel):
    kind: Literal["my_appointments_export", "appointments_export"]
    since: date | None = None
    until: date | None = None
    status: str | None = Field(default=None, max_length=20)
    practitioner_id: uuid.UUID | None = None


class JobRead(BaseModel):
    id: uuid.UUID
    kind: str
    status: str
    progress: int
    rows: int | None
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None
    download_url: str | None


def job_read(job: Job) -> JobRead:
    url = f"/api/v1/jobs/{job.id}/download" if job.status == "done" and job.result_path else None
    return JobRead(id=job.id, kind=job.kind, status=job.status, progress=job.progress, rows=job.rows,
                   created_at=job.created_at, finished_at=job.finished_at, expires_at=job.expires_at,
                   download_url=url)  # fmt: skip


@router.post("/jobs/exports", response_model=JobRead, status_code=202)
async def start_export(body: ExportCreate, ctx: Auth) -> JobRead:
    f = exports.ExportFilter(since=body.since, until=body.until, status=body.status,
                             practitioner_id=body.practitioner_id)  # fmt: skip
    job = await exports.start_export(ctx.session, ctx.principal, body.kind, f)
    await ctx.session.refresh(job)
    return job_read(job)


@router.get("/jobs/{job_id}", response_model=JobRead)
async def get_job(job_id: uuid.UUID, ctx: Auth) -> JobRead:
    return job_read(await exports.get_job(ctx.session, ctx.principal, job_id))


@router.get("/jobs/{job_id}/download", response_class=FileResponse)
async def download(job_id: uuid.UUID, ctx: Auth) -> FileResponse:
    path = await exports.download_path(ctx.session, ctx.principal, job_id)
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"appointments-{job_id}.csv",
                        headers={"Cache-Control": "no-store"})  # fmt: skip


class DeadLetterRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    topic: str
    attempts: int
    last_error: str | None
    created_at: datetime
    status: str


def dead_read(e) -> DeadLetterRead:  # type: ignore[no-untyped-def]
    return DeadLetterRead(id=e.id, tenant_id=e.tenant_id, topic=e.topic, attempts=e.attempts,
                          last_error=e.last_error, created_at=e.created_at, status=e.status)  # fmt: skip


@router.get("/dead-letters", response_model=list[DeadLetterRead])
async def list_dead_letters(ctx: DeadLetterAdmin) -> list[DeadLetterRead]:
    return [dead_read(e) for e in await deadletters.list_dead(ctx.session, ctx.principal)]


@router.post("/dead-letters/{event_id}/retry", response_model=DeadLetterRead)
async def retry_dead_letter(event_id: uuid.UUID, ctx: DeadLetterAdmin) -> DeadLetterRead:
    return dead_read(await deadletters.retry(ctx.session, ctx.principal, event_id))


@router.post("/dead-letters/{event_id}/discard", response_model=DeadLetterRead)
async def discard_dead_letter(event_id: uuid.UUID, ctx: DeadLetterAdmin) -> DeadLetterRead:
    return dead_read(await deadletters.discard(ctx.session, ctx.principal, event_id))
