"""Calendars: an appointment's .ics (patients, guardians, staff) and each practitioner's private
feed URL. The feed token is random (256 bits) and shown once; only its SHA-256 is stored, so a
database reader cannot subscribe to anyone's calendar. Rotating it invalidates the old URL."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.db import Database, set_context
from carebase.core.errors import NotFound
from carebase.core.uow import unit_of_work
from carebase.directory.models import Practitioner, Service
from carebase.identity.principal import Principal
from carebase.scheduling.dependents import can_book_for
from carebase.scheduling.ical import FeedItem, appointment_ics, practitioner_feed_ics
from carebase.scheduling.models import Appointment
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.schedules import managed_practitioner
from carebase.settings import get_settings
from carebase.tenancy.models import Location

FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=90)
# In the feed: what is or was going to happen. Holds are not appointments yet; cancelled, no-show,
# expired and moved ones drop out (calendar clients remove events missing from a feed).
FEED_STATUSES = ("requested", "confirmed", "checked_in", "in_consultation", "completed")


def _actor(principal: Principal) -> audit.Actor:
    return audit.Actor(principal.user_id, principal.role)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(token: str) -> str:
    return f"{get_settings().public_base_url}/calendar/{token}.ics"


async def rotate_calendar_token(session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID) -> str:
    """Create or replace the practitioner's feed token; returns the new feed URL (shown once)."""
    practitioner = await managed_practitioner(session, principal, practitioner_id)
    token = secrets.token_urlsafe(32)
    rotated = practitioner.calendar_token is not None
    practitioner.calendar_token = token_hash(token)
    await session.flush()
    action = "scheduling.calendar_token.rotated" if rotated else "scheduling.calendar_token.created"
    await audit.record(
        session, principal.tenant_id, action, actor=_actor(principal),
        target_type="practitioner", target_id=practitioner.id,
    )  # fmt: skip
    return feed_url(token)


async def appointment_calendar(session: AsyncSession, principal: Principal, appointment_id: uuid.UUID) -> bytes:
    """Staff who read appointments, or the patient (or guardian) it is for. Anyone else gets the
    same 404 as for an unknown id. Audited: it is a read of patient data."""
    appointment = await session.get(Appointment, appointment_id)
    if appointment is None or not (
        principal.can(P.APPOINTMENTS_READ) or await can_book_for(session, principal, appointment.patient_id)
    ):
        raise NotFound("No such appointment.")
    practitioner = await session.get(Practitioner, appointment.practitioner_id)
    location = await session.get(Location, appointment.location_id)
    service = await session.get(Service, appointment.service_id)
    assert practitioner is not None and location is not None and service is not None
    body = appointment_ics(appointment, practitioner.display_name, location, service.name, location.timezone)
    await audit.record(
        session, principal.tenant_id, "scheduling.appointment.read", actor=_actor(principal),
        target_type="appointment", target_id=appointment.id, patient_id=appointment.patient_id,
        details={"format": "ics"},
    )  # fmt: skip
    return body


_LOOKUP = text("SELECT tenant_id, practitioner_id FROM app_calendar_feed_lookup(:h)")


async def practitioner_feed(db: Database, token: str) -> bytes:
    """The public feed for a token, in a READ ONLY transaction scoped to the token's tenant.

    No tenant context exists before the lookup, so the token is resolved by a small
    SECURITY DEFINER function; everything after runs under row-level security as usual."""
    if not 20 <= len(token) <= 100:
        raise NotFound("No such calendar.")
    async with unit_of_work(db) as session:
        await session.execute(text("SET TRANSACTION READ ONLY"))
        found = (await session.execute(_LOOKUP, {"h": token_hash(token)})).first()
        if found is None:
            raise NotFound("No such calendar.")
        tenant_id, practitioner_id = found
        await set_context(session, tenant_id=tenant_id)
        practitioner = await session.get(Practitioner, practitioner_id)
        if practitioner is None:
            raise NotFound("No such calendar.")
        now = utcnow()
        rows = await session.execute(
            select(Appointment, Location, Service.name)
            .join(Location, Location.id == Appointment.location_id)
            .join(Service, Service.id == Appointment.service_id)
            .where(
                Appointment.practitioner_id == practitioner_id,
                Appointment.status.in_(FEED_STATUSES),
                Appointment.ends_at > now - FEED_PAST,
                Appointment.starts_at < now + FEED_AHEAD,
            )
            .order_by(Appointment.starts_at)
            .limit(5000)
        )
        items = [FeedItem(a, loc, name, loc.timezone) for a, loc, name in rows]
        return practitioner_feed_ics(practitioner.display_name, items)
