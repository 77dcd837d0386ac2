"""The periodic schedule: cron jobs evaluated in each tenant's timezone (``core.worker.cron``).

Each job runs once per (tenant, due time) however many workers run. Jobs that only announce something
emit events with their own dedupe keys (a reminder per appointment and offset, an agenda per practitioner
and day), so even an overlapping run emits each once; jobs that change data audit it.

| job | when (tenant's local time) | does |
|---|---|---|
| reminders | every 5 min | ``appointment.reminder`` at each ``reminder_offsets_hours`` (default 24 h, 2 h) |
| agenda | 08:00 daily | ``agenda.daily`` per practitioner with appointments that day |
| no_shows | every 5 min | confirmed appointments past end + grace become ``no_show`` (system actor) |
| waitlist_offers | every minute (platform) | lapsed waitlist offers expire; the slot goes to the next waiter |
| payment_follow_up | 10:00 daily | ``payment.follow_up_due`` per appointment still ``pending`` payment |
| monthly_report | 09:00 on the 1st | ``report.monthly`` for hospital admins: appointments, no-show rate, new patients |
| cleanup | 03:17 UTC daily (platform) | expired one-time codes, old refresh tokens, idempotency keys, exports |
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.worker.cron import CronRun, cron, emit_once
from carebase.scheduling import booking, waitlist
from carebase.tenancy.models import PLATFORM_TENANT_ID, Organization
from carebase.tenancy.service import DEFAULT_POLICY

log = logging.getLogger("carebase.jobs")

SYSTEM = audit.Actor(None, "system")
# A reminder still goes out if the worker looks up to this late (restart, backlog); later it is skipped.
REMINDER_WINDOW = timedelta(hours=1)


async def _settings(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, Any]:
    org = await session.get(Organization, tenant_id)
    return {**DEFAULT_POLICY, **((org.settings if org else {}) or {})}


def _day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


@cron("reminders", "*/5 * * * *")
async def reminders(session: AsyncSession, run: CronRun) -> int:
    offsets = sorted({int(h) for h in (await _settings(session, run.tenant_id))["reminder_offsets_hours"]
                      if 0 < int(h) <= 24 * 14})  # fmt: skip
    sent = 0
    for hours in offsets:
        point = run.due_at + timedelta(hours=hours)
        rows = await session.execute(
            text("SELECT id, practitioner_id, patient_id, location_id, starts_at, status FROM appointments"
                 " WHERE tenant_id = :t AND status = 'confirmed' AND starts_at > :lo AND starts_at <= :hi"
                 " AND starts_at > :now"),
            {"t": run.tenant_id, "lo": point - REMINDER_WINDOW, "hi": point, "now": run.due_at},
        )  # fmt: skip
        for a in rows.mappings():
            payload = {
                "appointment_id": str(a["id"]), "practitioner_id": str(a["practitioner_id"]),
                "patient_id": str(a["patient_id"]), "location_id": str(a["location_id"]),
                "starts_at": a["starts_at"].isoformat(), "status": a["status"], "offset_hours": hours,
            }  # fmt: skip
            sent += await emit_once(session, run.tenant_id, "appointment.reminder", payload,
                                    f"reminder:{a['id']}:{hours}h")  # fmt: skip
    return sent


@cron("agenda", "0 8 * * *")
async def agenda(session: AsyncSession, run: CronRun) -> int:
    day = run.local_due.date()
    start, end = _day_bounds(day, run.timezone)
    rows = await session.execute(
        text("SELECT practitioner_id, count(*) AS n, min(starts_at) AS first FROM appointments"
             " WHERE tenant_id = :t AND starts_at >= :s AND starts_at < :e"
             " AND status IN ('requested', 'confirmed', 'checked_in') GROUP BY practitioner_id"),
        {"t": run.tenant_id, "s": start, "e": end},
    )  # fmt: skip
    sent = 0
    for r in rows.mappings():
        payload = {"practitioner_id": str(r["practitioner_id"]), "date": day.isoformat(), "appointments": r["n"],
                   "first_starts_at": r["first"].isoformat()}  # fmt: skip
        sent += await emit_once(session, run.tenant_id, "agenda.daily", payload,
                                f"agenda:{r['practitioner_id']}:{day.isoformat()}")  # fmt: skip
    return sent


@cron("no_shows", "*/5 * * * *")
async def no_shows(session: AsyncSession, run: CronRun) -> int:
    return await booking.mark_no_shows(session, run.tenant_id, run.due_at)


@cron("waitlist_offers", "* * * * *", scope="platform")
async def waitlist_offers(session: AsyncSession, run: CronRun) -> int:
    return await waitlist.settle_offers(session)


@cron("payment_follow_up", "0 10 * * *")
async def payment_follow_up(session: AsyncSession, run: CronRun) -> int:
    """A hook for billing (later): one event per appointment whose payment is still pending, each day."""
    day = run.local_due.date()
    rows = await session.execute(
        text("SELECT id, patient_id, price_minor, currency FROM appointments WHERE tenant_id = :t"
             " AND payment_status = 'pending' AND status NOT IN ('cancelled', 'expired', 'rescheduled', 'held')"
             " AND starts_at < :now"),
        {"t": run.tenant_id, "now": run.due_at + timedelta(days=1)},
    )  # fmt: skip
    sent = 0
    for a in rows.mappings():
        payload = {"appointment_id": str(a["id"]), "patient_id": str(a["patient_id"]),
                   "amount_minor": a["price_minor"], "currency": a["currency"], "date": day.isoformat()}  # fmt: skip
        sent += await emit_once(session, run.tenant_id, "payment.follow_up_due", payload,
                                f"payment:{a['id']}:{day.isoformat()}")  # fmt: skip
    return sent


def previous_month(local_due: datetime) -> tuple[date, date]:
    first_this = local_due.date().replace(day=1)
    first_prev = (first_this - timedelta(days=1)).replace(day=1)
    return first_prev, first_this


async def monthly_figures(session: AsyncSession, tenant_id: uuid.UUID, tz: str, first: date,
                          next_first: date) -> dict[str, Any]:  # fmt: skip
    zone = ZoneInfo(tz)
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(next_first, time.min, tzinfo=zone)
    row = (await session.execute(
        text("SELECT count(*) FILTER (WHERE status NOT IN ('held', 'expired')) AS appointments,"
             " count(*) FILTER (WHERE status = 'no_show') AS no_shows,"
             " count(*) FILTER (WHERE status IN ('completed', 'no_show')) AS attended_or_missed"
             " FROM appointments WHERE tenant_id = :t AND starts_at >= :s AND starts_at < :e"),
        {"t": tenant_id, "s": start, "e": end},
    )).mappings().one()  # fmt: skip
    new_patients = (await session.execute(
        text("SELECT count(*) FROM patients WHERE tenant_id = :t AND created_at >= :s AND created_at < :e"),
        {"t": tenant_id, "s": start, "e": end},
    )).scalar_one()  # fmt: skip
    due = row["attended_or_missed"]
    return {
        "month": first.strftime("%Y-%m"), "appointments": row["appointments"], "no_shows": row["no_shows"],
        "no_show_rate": round(row["no_shows"] / due, 4) if due else 0.0, "new_patients": new_patients,
    }  # fmt: skip


@cron("monthly_report", "0 9 1 * *")
async def monthly_report(session: AsyncSession, run: CronRun) -> int:
    first, next_first = previous_month(run.local_due)
    figures = await monthly_figures(session, run.tenant_id, run.timezone, first, next_first)
    admins = (await session.execute(
        text("SELECT user_id FROM memberships WHERE tenant_id = :t AND role = 'hospital_admin' AND status = 'active'"
             " ORDER BY user_id"), {"t": run.tenant_id},
    )).scalars().all()  # fmt: skip
    payload = figures | {"recipient_user_ids": [str(u) for u in admins]}
    return int(await emit_once(session, run.tenant_id, "report.monthly", payload, f"report:{figures['month']}"))


async def cleanup_now(session: AsyncSession, now: datetime) -> dict[str, int]:
    counts = {}
    counts["one_time_codes"] = (await session.execute(
        text("DELETE FROM one_time_codes WHERE expires_at < :cut"), {"cut": now - timedelta(hours=1)})).rowcount
    # A refresh token outlives its use only until its family (the signed-in session) expires.
    counts["refresh_tokens"] = (await session.execute(
        text("DELETE FROM refresh_tokens r USING auth_sessions s WHERE r.session_id = s.id AND s.expires_at < :now"),
        {"now": now})).rowcount  # fmt: skip
    counts["idempotency_keys"] = (await session.execute(
        text("DELETE FROM idempotency_keys WHERE expires_at < :now"), {"now": now})).rowcount
    files = (await session.execute(
        text("UPDATE jobs SET result_path = NULL WHERE expires_at < :now AND result_path IS NOT NULL"
             " RETURNING result_path"), {"now": now})).scalars().all()  # fmt: skip
    for path in files:
        await asyncio.to_thread(Path(path).unlink, missing_ok=True)
    counts["export_files"] = len(files)
    return counts


@cron("cleanup", "17 3 * * *", scope="platform")
async def cleanup(session: AsyncSession, run: CronRun) -> int:
    counts = await cleanup_now(session, datetime.now(UTC))
    if any(counts.values()):
        await audit.record(session, PLATFORM_TENANT_ID, "jobs.cleanup", actor=SYSTEM, details=counts)
    log.info("cleanup done", extra=counts)
    return sum(counts.values())
