"""Outbox consumers that turn domain events into notifications (records in the handler's transaction; the
periodic ``deliver_due`` sends them). Each is idempotent: rows carry a dedupe key made of the event id.

Recipients: for an appointment, the patient's portal user, else the guardian who booked it (a patient-role
user), else the contacts on the patient record; for a device approval, the tenant's hospital admins."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.identity.models import Device, Membership, User
from carebase.notifications import service
from carebase.notifications.service import Recipient, notify, recipient_for_user
from carebase.patients.models import Patient
from carebase.scheduling.models import Appointment
from carebase.settings import get_settings

EVENTS = {
    "appointment.confirmed": ("appointment_confirmed", "booking"),
    "appointment.cancelled": ("appointment_cancelled", "booking"),
    "appointment.rescheduled": ("appointment_rescheduled", "booking"),
    "waitlist.offered": ("waitlist_offer", "waitlist"),
    "appointment.reminder": ("appointment_reminder", "reminder"),
}


def _when(value: datetime, tz: str) -> str:
    local = value.astimezone(ZoneInfo(tz))
    return f"{local:%a %d %b %Y, %H:%M} {local.tzname()}"


def _booker_is_guardian() -> Any:
    """Whether the appointment was booked by a patient-role user of its tenant (a guardian), as a column."""
    return (
        select(Membership.id).where(Membership.tenant_id == Appointment.tenant_id, Membership.role == "patient",
                                    Membership.user_id == Appointment.booked_by_user_id)
        .exists().label("booker_is_guardian")
    )  # fmt: skip


async def appointment_recipient(
    session: AsyncSession, appointment: Appointment, patient: Patient, booker_is_guardian: bool
) -> Recipient | None:
    if patient.user_id and (r := await recipient_for_user(session, patient.user_id)):
        return r
    if booker_is_guardian and (r := await recipient_for_user(session, appointment.booked_by_user_id)):
        return r
    if patient.email or patient.phone:
        return Recipient(None, patient.email, patient.phone, "en", f"{patient.given_name} {patient.family_name}")
    return None


def _offset_label(payload: dict[str, Any], language: str) -> str:
    # The cron schedule sends ``offset_hours``; ``offset_minutes`` is accepted for finer offsets.
    minutes = int(payload.get("offset_minutes") or 0) or int(payload.get("offset_hours") or 0) * 60
    if minutes >= 1440:
        days = minutes // 1440
        return ("कल" if days == 1 else f"{days} दिन में") if language == "hi" else (
            "tomorrow" if days == 1 else f"in {days} days")
    hours = max(minutes // 60, 1)
    return f"{hours} घंटे में" if language == "hi" else f"in {hours} hour{'s' if hours != 1 else ''}"


async def on_appointment_event(session: AsyncSession, event: dict[str, Any]) -> int:
    from carebase.directory.models import Practitioner, Service
    from carebase.scheduling.ical import appointment_ics
    from carebase.tenancy.models import Location, Organization

    topic, payload = event["topic"], event["payload"]
    template, category = EVENTS[topic]
    # The appointment, everything the message names and who booked it, in one query (they all must exist).
    found = (await session.execute(
        select(Appointment, Patient, Practitioner, Location, Service, Organization, _booker_is_guardian())
        .join(Patient, Patient.id == Appointment.patient_id)
        .join(Practitioner, Practitioner.id == Appointment.practitioner_id)
        .join(Location, Location.id == Appointment.location_id)
        .join(Service, Service.id == Appointment.service_id)
        .join(Organization, Organization.id == Appointment.tenant_id)
        .where(Appointment.id == uuid.UUID(payload["appointment_id"]))
    )).first()  # fmt: skip
    if found is None:
        return 0
    appointment, patient, practitioner, location, svc, org, booker_is_guardian = found
    if topic == "appointment.reminder" and appointment.status not in ("confirmed", "requested"):
        return 0  # cancelled or moved since the reminder was scheduled
    recipient = await appointment_recipient(session, appointment, patient, booker_is_guardian)
    if recipient is None:
        return 0
    tz = location.timezone or org.timezone
    base = get_settings().public_base_url.rstrip("/")
    context: dict[str, Any] = {
        "patient_name": f"{patient.given_name} {patient.family_name}", "practitioner_name": practitioner.display_name,
        "service_name": svc.name, "location_name": location.name, "when": _when(appointment.starts_at, tz),
        "link": f"{base}/my/appointments",
    }  # fmt: skip
    if topic == "appointment.cancelled":
        context["reason"] = payload.get("reason") or ""
    if topic == "waitlist.offered":
        context["offer_expires"] = _when(datetime.fromisoformat(payload["offer_expires_at"]), tz)
    if topic == "appointment.reminder":
        context["offset_label"] = _offset_label(payload, recipient.language)
    attachment = None
    if topic in ("appointment.confirmed", "appointment.rescheduled"):
        ics = appointment_ics(appointment, practitioner.display_name, location, svc.name, tz)
        attachment = ("appointment.ics", ics.decode(), "text/calendar")
    rows = await notify(
        session, appointment.tenant_id, recipient, event=template, category=category, context=context,
        dedupe=f"{event['id']}", source_id=appointment.id, link="/my/appointments", attachment=attachment,
    )  # fmt: skip
    return len(rows)


async def on_device_approval(session: AsyncSession, event: dict[str, Any]) -> int:
    payload = event["payload"]
    tenant_id = uuid.UUID(str(event["tenant_id"]))
    device = await session.get(Device, uuid.UUID(payload["device_id"]))
    user = await session.get(User, uuid.UUID(payload["user_id"]))
    if device is None or user is None:
        return 0
    admins = (
        await session.execute(
            select(Membership.user_id).where(Membership.tenant_id == tenant_id, Membership.role == "hospital_admin",
                                             Membership.status == "active")
        )
    ).scalars().all()  # fmt: skip
    count = 0
    base = get_settings().public_base_url.rstrip("/")
    for admin_id in admins:
        recipient = await recipient_for_user(session, admin_id)
        if recipient is None:
            continue
        rows = await notify(
            session, tenant_id, recipient, event="device_approval", category="admin",
            context={"user_name": user.full_name, "device_label": device.label, "link": f"{base}/admin/devices"},
            channels_wanted=("in_app", "email"), urgent=True, dedupe=str(event["id"]), source_id=device.id,
            link="/admin/devices",
        )  # fmt: skip
        count += len(rows)
    return count


async def on_job_finished(session: AsyncSession, event: dict[str, Any]) -> int:
    """An export is ready: tell the person who asked, in the app and by email, with the link."""
    from carebase.jobs.models import Job
    from carebase.tenancy.models import Organization

    payload = event["payload"]
    tenant_id = uuid.UUID(str(event["tenant_id"]))
    job = await session.get(Job, uuid.UUID(payload["job_id"]))
    recipient = await recipient_for_user(session, uuid.UUID(payload["user_id"]))
    org = await session.get(Organization, tenant_id)
    if job is None or recipient is None or job.expires_at is None:
        return 0
    base = get_settings().public_base_url.rstrip("/")
    expires = _when(job.expires_at, org.timezone if org else "UTC")
    rows = await notify(
        session, tenant_id, recipient, event="export_ready",
        category="booking" if job.kind == "my_appointments_export" else "admin",
        context={"rows": int(payload.get("rows") or 0), "expires": expires, "link": f"{base}/exports/{job.id}"},
        channels_wanted=("in_app", "email"), dedupe=str(event["id"]), source_id=job.id, link=f"/exports/{job.id}",
    )  # fmt: skip
    return len(rows)


async def on_daily_agenda(session: AsyncSession, event: dict[str, Any]) -> int:
    """The doctor's day at 8 AM: how many appointments, and the first one's time."""
    from carebase.directory.models import Practitioner
    from carebase.tenancy.models import Organization

    payload = event["payload"]
    tenant_id = uuid.UUID(str(event["tenant_id"]))
    practitioner = await session.get(Practitioner, uuid.UUID(payload["practitioner_id"]))
    org = await session.get(Organization, tenant_id)
    membership = await session.get(Membership, practitioner.membership_id) if practitioner else None
    recipient = await recipient_for_user(session, membership.user_id) if membership else None
    if practitioner is None or recipient is None or org is None:
        return 0
    first = datetime.fromisoformat(payload["first_starts_at"]).astimezone(ZoneInfo(org.timezone))
    day = datetime.fromisoformat(payload["date"])
    base = get_settings().public_base_url.rstrip("/")
    rows = await notify(
        session, tenant_id, recipient, event="daily_agenda", category="admin",
        context={"practitioner_name": practitioner.display_name, "day": f"{day:%a %d %b %Y}",
                 "appointments": int(payload["appointments"]), "first": f"{first:%H:%M} {first.tzname()}",
                 "link": f"{base}/schedule/day"},
        channels_wanted=("in_app", "email"), dedupe=str(event["id"]), source_id=practitioner.id,
        link="/schedule/day",
    )  # fmt: skip
    return len(rows)


async def on_monthly_report(session: AsyncSession, event: dict[str, Any]) -> int:
    """The month's figures to each hospital admin named in the event."""
    payload = event["payload"]
    tenant_id = uuid.UUID(str(event["tenant_id"]))
    base = get_settings().public_base_url.rstrip("/")
    context = {
        "month": payload["month"], "appointments": int(payload["appointments"]), "no_shows": int(payload["no_shows"]),
        "no_show_percent": f"{float(payload['no_show_rate']) * 100:.1f}", "new_patients": int(payload["new_patients"]),
        "link": f"{base}/",
    }  # fmt: skip
    count = 0
    for user_id in payload.get("recipient_user_ids", []):
        recipient = await recipient_for_user(session, uuid.UUID(user_id))
        if recipient is None:
            continue
        rows = await notify(
            session, tenant_id, recipient, event="monthly_report", category="admin", context=context,
            channels_wanted=("in_app", "email"), dedupe=str(event["id"]), link="/",
        )  # fmt: skip
        count += len(rows)
    return count


async def deliver(session: AsyncSession) -> int:
    """Periodic: send what is due."""
    return await service.deliver_due(session)


def _register() -> None:
    from carebase.core import worker

    for topic in EVENTS:
        _session_handler(worker, topic, on_appointment_event)
    _session_handler(worker, "device.approval_requested", on_device_approval)
    _session_handler(worker, "job.finished", on_job_finished)
    _session_handler(worker, "agenda.daily", on_daily_agenda)
    _session_handler(worker, "report.monthly", on_monthly_report)
    worker.periodic(deliver)


def _session_handler(worker: Any, topic: str, fn: Any) -> None:
    async def run(session: AsyncSession, event: dict[str, Any]) -> None:
        await fn(session, event)

    run.__qualname__ = f"{fn.__name__}[{topic}]"
    try:
        worker.handler(topic, session=True, name=f"notifications.{fn.__name__}")(run)
        return
    except TypeError:
        pass  # the first worker version only knows connection handlers

    async def via_connection(conn: Any, event: dict[str, Any]) -> None:
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        from carebase.core.bootstrap import resolve_owner_url
        from carebase.core.db import async_url

        engine = create_async_engine(async_url(resolve_owner_url(get_settings())), pool_size=1)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as s, s.begin():
                await fn(s, event)
        finally:
            await engine.dispose()

    worker.handler(topic)(via_connection)


_register()
