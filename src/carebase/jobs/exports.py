"""On-demand CSV exports with visible progress.

``start_export`` (the requester's unit of work, RLS) stores a ``jobs`` row and emits ``job.requested``; the
worker's session handler writes ``var/exports/<tenant>/<uuid>.csv`` (a generated name), committing progress
as it goes on a separate connection, then marks the job ``done`` (downloadable by the requester only, for
24 h) and emits ``job.finished`` (the notifications context emails a link).
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.errors import Gone, NotFound, PermissionDenied, ValidationFailed
from carebase.core.outbox import emit
from carebase.core.worker import handler
from carebase.identity.principal import Principal
from carebase.jobs.models import Job
from carebase.jobs.permissions import JobsPermission as P
from carebase.settings import VAR_DIR
from carebase.tenancy.models import Organization

EXPORTS_DIR = VAR_DIR / "exports"
KEEP = timedelta(hours=24)
CHUNK = 200
STATUSES = ("requested", "confirmed", "checked_in", "in_consultation", "completed", "cancelled", "no_show",
            "rescheduled")  # fmt: skip
COLUMNS = ["date", "time", "patient", "practitioner", "service", "location", "status", "mode", "price", "currency"]


@dataclass(frozen=True, slots=True)
class ExportFilter:
    since: date | None = None
    until: date | None = None
    status: str | None = None
    practitioner_id: uuid.UUID | None = None


async def start_export(session: AsyncSession, principal: Principal, kind: str, f: ExportFilter | None = None) -> Job:
    f = f or ExportFilter()
    if kind == "my_appointments_export":
        if not principal.can(P.EXPORT_OWN):
            raise PermissionDenied()
        params: dict[str, Any] = {}
    elif kind == "appointments_export":
        if not principal.can(P.EXPORT_APPOINTMENTS):
            raise PermissionDenied()
        if f.status and f.status not in STATUSES:
            raise ValidationFailed.field("status", "Unknown status.")
        if f.since and f.until and f.until < f.since:
            raise ValidationFailed.field("until", "The end is before the start.")
        params = {
            "since": f.since.isoformat() if f.since else None, "until": f.until.isoformat() if f.until else None,
            "status": f.status, "practitioner_id": str(f.practitioner_id) if f.practitioner_id else None,
        }  # fmt: skip
    else:
        raise ValidationFailed.field("kind", "Unknown export.")
    job = Job(tenant_id=principal.tenant_id, kind=kind, requested_by_user_id=principal.user_id, params=params)
    session.add(job)
    await session.flush()
    await emit(session, principal.tenant_id, "job.requested", {"job_id": str(job.id), "kind": kind})
    await audit.record(
        session, principal.tenant_id, "jobs.export.requested", actor=audit.Actor(principal.user_id, principal.role),
        target_type="job", target_id=job.id, details={"kind": kind},
    )  # fmt: skip
    return job


async def get_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> Job:
    job = await session.get(Job, job_id)
    # Only the requester sees a job (others get the same 404 as for a missing one).
    if job is None or job.requested_by_user_id != principal.user_id:
        raise NotFound("No such job.")
    return job


async def download_path(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> Path:
    job = await get_job(session, principal, job_id)
    if job.status != "done":
        raise NotFound("The export is not ready yet.")
    if not job.result_path or (job.expires_at and job.expires_at < utcnow()):
        raise Gone("The export has expired: start a new one.")
    path = Path(job.result_path)
    if not path.is_relative_to(EXPORTS_DIR.resolve()):
        raise NotFound("No such job.")
    await audit.record(
        session, principal.tenant_id, "jobs.export.downloaded", actor=audit.Actor(principal.user_id, principal.role),
        target_type="job", target_id=job.id,
    )  # fmt: skip
    return path


def _cell(value: Any) -> str:
    s = "" if value is None else str(value)
    # No formula injection when the file is opened in a spreadsheet.
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def _query(job: Job, tz: str) -> tuple[str, dict[str, Any]]:
    where = ["a.tenant_id = :t", "a.status NOT IN ('held', 'expired')"]
    args: dict[str, Any] = {"t": job.tenant_id}
    if job.kind == "my_appointments_export":
        where.append("(p.user_id = :u OR a.patient_id IN (SELECT patient_id FROM dependents d"
                     " WHERE d.tenant_id = :t AND d.guardian_user_id = :u))")  # fmt: skip
        args["u"] = job.requested_by_user_id
    else:
        zone = ZoneInfo(tz)
        params = job.params or {}
        if params.get("since"):
            where.append("a.starts_at >= :since")
            args["since"] = datetime.combine(date.fromisoformat(params["since"]), time.min, tzinfo=zone)
        if params.get("until"):
            where.append("a.starts_at < :until")
            args["until"] = datetime.combine(date.fromisoformat(params["until"]) + timedelta(days=1), time.min,
                                             tzinfo=zone)  # fmt: skip
        if params.get("status"):
            where.append("a.status = :status")
            args["status"] = params["status"]
        if params.get("practitioner_id"):
            where.append("a.practitioner_id = :pr")
            args["pr"] = uuid.UUID(params["practitioner_id"])
    # Fixed fragments only; every value is bound.
    select_sql = (
        "SELECT a.starts_at, p.given_name || ' ' || p.family_name AS patient, pr.display_name AS practitioner,"
        " s.name AS service, l.name AS location, a.status, a.mode, a.price_minor, a.currency FROM appointments a"
        " JOIN patients p ON p.id = a.patient_id JOIN practitioners pr ON pr.id = a.practitioner_id"
        " JOIN services s ON s.id = a.service_id JOIN locations l ON l.id = a.location_id WHERE "
    )
    return select_sql + " AND ".join(where) + " ORDER BY a.starts_at, a.id", args


async def _progress(session: AsyncSession, job_id: uuid.UUID, **values: Any) -> None:
    """Commit progress on its own connection, so the requester sees it while the export runs."""
    async with AsyncSession(bind=session.bind) as side, side.begin():
        await side.execute(
            text("UPDATE jobs SET status = coalesce(:status, status), progress = :progress WHERE id = :id"),
            {"id": job_id, "status": values.get("status"), "progress": values["progress"]},
        )


@handler("job.requested", session=True, name="jobs.exports.run")
async def run_export(session: AsyncSession, event: dict[str, Any]) -> None:
    job = await session.get(Job, uuid.UUID(event["payload"]["job_id"]))
    if job is None or job.status == "done":
        return
    org = await session.get(Organization, job.tenant_id)
    tz = org.timezone if org else "UTC"
    zone = ZoneInfo(tz)
    await _progress(session, job.id, status="running", progress=0)
    sql, args = _query(job, tz)
    rows = (await session.execute(text(sql), args)).mappings().all()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for index, r in enumerate(rows, 1):
        local = r["starts_at"].astimezone(zone)
        writer.writerow([_cell(v) for v in (
            local.date().isoformat(), local.strftime("%H:%M"), r["patient"], r["practitioner"], r["service"],
            r["location"], r["status"], r["mode"], f"{r['price_minor'] / 100:.2f}", r["currency"],
        )])  # fmt: skip
        if index % CHUNK == 0:
            await _progress(session, job.id, progress=min(95, index * 100 // len(rows)))
    path = EXPORTS_DIR / str(job.tenant_id) / f"{uuid.uuid4()}.csv"
    await asyncio.to_thread(_write, path, buffer.getvalue())
    now = utcnow()
    job.status, job.progress, job.rows, job.result_path = "done", 100, len(rows), str(path)
    job.finished_at, job.expires_at = now, now + KEEP
    await session.flush()
    await emit(session, job.tenant_id, "job.finished", {
        "job_id": str(job.id), "kind": job.kind, "user_id": str(job.requested_by_user_id), "rows": len(rows),
        "download_path": f"/api/v1/jobs/{job.id}/download", "expires_at": job.expires_at.isoformat(),
    })  # fmt: skip


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)
