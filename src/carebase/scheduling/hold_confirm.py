"""Hold and confirm on a bare asyncpg connection: the booking hot path, in few round trips and no ORM.

- **Hold**: one statement loads everything the checks need (practitioner, service terms, whether the
  booker may book for the patient, their active holds, and the templates, exceptions and holidays around
  the requested instant); the slot check is ``compute_slots`` over that one local day, so a hold accepts
  exactly the slots availability offers, except that busy time is not looked at: the ``no_double_booking``
  exclusion constraint decides, through ``INSERT ... ON CONFLICT DO NOTHING`` (with the audit event).
- **Confirm**: one guarded ``UPDATE ... RETURNING``; only when it matches nothing do we look at the row to
  say why (404, 409, or 410 with the expiry recorded). Then the events and the audit event in one statement.

Audit events go into ``audit_pending`` within the command's own write statement; they join the tenant's
chain while the transaction commits (migration 0010).
The session-based ``booking.place_hold`` / ``booking.confirm`` run these on the session's connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import asyncpg

from carebase.audit import service as audit
from carebase.core import invalidation
from carebase.core.clock import utcnow
from carebase.core.errors import Conflict, Gone, NotFound, PermissionDenied, ValidationFailed
from carebase.core.ids import new_id
from carebase.core.outbox import Message, emit_args, emit_sql
from carebase.identity.principal import Principal
from carebase.identity.roles import Role
from carebase.scheduling.availability import MIN_NOTICE, beyond_horizon, parse_json, schedule_rules
from carebase.scheduling.dependents import can_book_for_sql
from carebase.scheduling.holds import (
    HOLD_MINUTES,
    MAX_ACTIVE_HOLDS,
    SLOT_TAKEN,
    event_payload,
    expire_stale_holds_on,
)
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.slots import Slot, compute_slots
from carebase.tenancy.service import DEFAULT_POLICY

# $1 practitioner, $2 service, $3 patient, $4 starts_at, $5 user, $6 booker is a patient, $7 now,
# $8 the default booking horizon (the organisation's own unless it set one).
_HOLD_LOAD_SQL = f"""
SELECT
  (SELECT p.is_active FROM practitioners p WHERE p.id = $1) AS active,
  coalesce((SELECT (o.settings->>'booking_horizon_days')::int FROM organizations o WHERE o.id = app_current_tenant()),
           $8::int) AS horizon_days,
  CASE WHEN $6 THEN {can_book_for_sql("$3", "$5")} ELSE EXISTS (SELECT 1 FROM patients WHERE id = $3) END AS patient_ok,
  (SELECT count(*) FROM appointments a
    WHERE a.booked_by_user_id = $5 AND a.status = 'held' AND a.hold_expires_at > $7::timestamptz) AS holds,
  (SELECT json_build_array(s.duration_minutes, s.price_minor, s.currency, s.mode, s.payment)
     FROM services s JOIN practitioner_services ps ON ps.service_id = s.id
    WHERE ps.practitioner_id = $1 AND s.id = $2 AND s.is_active) AS service,
  (SELECT coalesce(json_agg(json_build_array(t.weekday, t.start_time, t.end_time, t.slot_minutes, t.valid_from,
                                              t.valid_until, t.location_id, l.timezone)), '[]')
     FROM schedule_templates t JOIN locations l ON l.id = t.location_id
    WHERE t.practitioner_id = $1 AND t.is_active AND l.is_active
      AND t.weekday = extract(isodow FROM $4::timestamptz AT TIME ZONE l.timezone)::int - 1
      AND t.valid_from <= ($4::timestamptz AT TIME ZONE l.timezone)::date
      AND (t.valid_until IS NULL OR t.valid_until >= ($4::timestamptz AT TIME ZONE l.timezone)::date)) AS templates,
  (SELECT coalesce(json_agg(json_build_array(e.kind, e.starts_at, e.ends_at, e.slot_minutes, e.location_id)), '[]')
     FROM schedule_exceptions e
    WHERE e.practitioner_id = $1 AND e.starts_at < $4::timestamptz + interval '1 day'
      AND e.ends_at > $4::timestamptz) AS exceptions,
  (SELECT coalesce(json_agg(json_build_array(h.day, h.location_id)), '[]')
     FROM holidays h
    WHERE h.day BETWEEN ($4::timestamptz AT TIME ZONE 'UTC')::date - 1
                    AND ($4::timestamptz AT TIME ZONE 'UTC')::date + 1) AS holidays
"""  # noqa: S608 (constants only)

COLUMNS = (
    "id, practitioner_id, patient_id, service_id, location_id, starts_at, ends_at, status, hold_expires_at, source,"
    " mode, price_minor, currency, payment_status, reason, cancel_reason, rescheduled_from_id, rescheduled_to_id,"
    " checked_in_at, version, created_at"
)

# The hold and its audit event ($17-$21) in one statement; the audit row only if the hold went in.
_INSERT_SQL = f"""
WITH ins AS (
  INSERT INTO appointments (id, tenant_id, practitioner_id, patient_id, service_id, location_id, starts_at, ends_at,
                            status, hold_expires_at, source, booked_by_user_id, mode, price_minor, currency,
                            payment_status, reason)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'held', $9, $10, $11, $12, $13, $14, $15, $16)
  ON CONFLICT DO NOTHING
  RETURNING {COLUMNS}
), audit AS ({audit.pending_sql(17, source="ins")})
SELECT * FROM ins
"""  # noqa: S608

# $1 appointment, $2 now, $3 the booker when only their own hold may be confirmed (patients), else NULL.
_CONFIRM_SQL = f"""
UPDATE appointments a
   SET status = CASE WHEN p.approves_bookings THEN 'requested' ELSE 'confirmed' END,
       hold_expires_at = NULL, version = a.version + 1, updated_at = now()
  FROM practitioners p
 WHERE a.id = $1 AND p.id = a.practitioner_id AND a.status = 'held'
   AND (a.hold_expires_at IS NULL OR a.hold_expires_at > $2::timestamptz)
   AND ($3::uuid IS NULL OR a.booked_by_user_id = $3)
RETURNING {", ".join("a." + c.strip() for c in COLUMNS.split(","))}
"""  # noqa: S608

# Why a confirm matched nothing ($1 appointment, $2 user).
_CONFIRM_DIAGNOSE_SQL = f"""
SELECT a.status, a.hold_expires_at, a.booked_by_user_id, {can_book_for_sql("a.patient_id", "$2")} AS mine
  FROM appointments a WHERE a.id = $1 FOR UPDATE
"""  # noqa: S608
# The confirmed booking's events and its audit event ($1-$5) in one statement.
_BOOKED_SQL = emit_sql(6, also=f"audit AS ({audit.pending_sql(1)}), ")
_EXPIRE_ONE_SQL = "UPDATE appointments SET status = 'expired', updated_at = now() WHERE id = $1"
# A confirmed waitlist offer closes its entry at once (``waitlist.settle_offers`` would, within a minute).
_OFFER_BOOKED_SQL = (
    "UPDATE waitlist_entries SET status = 'booked', updated_at = now()"
    " WHERE offered_appointment_id = $1 AND status = 'offered'"
)

SLOT_GONE = "That time is not free in this practitioner's schedule. Pick one of the free slots."


def announce(tenant_id: uuid.UUID, row: asyncpg.Record) -> None:
    """Tell this process's caches (availability) at once, after the commit, that the practitioner's time
    changed; other processes hear it from the database's NOTIFY (migration 0009). ORM writes do this by
    themselves (``invalidation.track_orm_changes``); these statements bypass the ORM."""
    invalidation.apply("p", str(tenant_id), str(row["practitioner_id"]))


def _actor(principal: Principal) -> audit.Actor:
    return audit.Actor(principal.user_id, principal.role)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_days(starts_at: datetime, timezones: Iterable[str]) -> tuple[date, date]:
    days = [starts_at.astimezone(_zone(tz)).date() for tz in timezones] or [starts_at.date()]
    return min(days), max(days)


def find_slot(
    row: asyncpg.Record, starts_at: datetime, duration: int, location_id: uuid.UUID | None, now: datetime
) -> Slot | None:
    """The schedule's slot that starts at ``starts_at`` (at ``location_id`` if given), ignoring bookings."""
    rules = schedule_rules(row)
    first_day, last_day = _local_days(starts_at, rules.timezones.values())
    slots = compute_slots(
        sessions=rules.sessions, extras=rules.extras, time_off=rules.time_off, busy=[], holidays=rules.holidays,
        first_day=first_day,
        last_day=last_day, duration_minutes=duration, not_before=now + MIN_NOTICE,
    )  # fmt: skip
    for slot in slots:
        if slot.starts_at == starts_at and (location_id is None or slot.location_id == location_id):
            return slot
    return None


@dataclass(frozen=True, slots=True)
class HoldRequest:
    practitioner_id: uuid.UUID | None
    service_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    starts_at: datetime
    location_id: uuid.UUID | None = None
    source: str = "patient"
    reason: str = ""


async def hold_on(conn: asyncpg.Connection, principal: Principal, req: HoldRequest) -> asyncpg.Record:
    """Place a hold (see ``booking.place_hold``); returns the appointment's row (``COLUMNS``)."""
    now = utcnow()
    practitioner_id, patient_id, starts_at = req.practitioner_id, req.patient_id, req.starts_at
    if starts_at.tzinfo is None:
        raise ValidationFailed.field("starts_at", "Give the time with its UTC offset.")
    if starts_at <= now:
        raise ValidationFailed.field("starts_at", "That time is in the past.")
    is_patient = principal.role is Role.PATIENT
    if is_patient and req.source != "patient":
        raise ValidationFailed.field("source", "Patients book as 'patient'.")
    row = await conn.fetchrow(
        _HOLD_LOAD_SQL, practitioner_id, req.service_id, patient_id, starts_at, principal.user_id, is_patient, now,
        DEFAULT_POLICY["booking_horizon_days"],
    )  # fmt: skip
    assert row is not None
    if not row["patient_ok"]:
        if is_patient:
            raise PermissionDenied("You can book only for yourself and the family members linked to your account.")
        raise ValidationFailed.field("patient_id", "No such patient in this organisation.")
    if not row["active"]:
        raise NotFound("No such practitioner.")
    if row["holds"] >= MAX_ACTIVE_HOLDS:
        raise Conflict(f"You already hold {row['holds']} slots. Confirm or release one first.")
    service = parse_json(row["service"])
    if service is None:
        raise ValidationFailed.field("service_id", "This practitioner does not offer that service.")
    duration, price_minor, currency, mode, payment = service
    if (too_far := beyond_horizon(starts_at, row["horizon_days"], now)) is not None:
        raise too_far
    slot = find_slot(row, starts_at, duration, req.location_id, now)
    if slot is None:
        raise Conflict(SLOT_GONE)
    appointment_id = new_id()
    args = (
        appointment_id, principal.tenant_id, practitioner_id, patient_id, req.service_id, slot.location_id,
        slot.starts_at, slot.ends_at, now + timedelta(minutes=HOLD_MINUTES), req.source, principal.user_id, mode,
        price_minor, currency, "pending" if payment == "online" else "at_desk", req.reason,
        *audit.pending_args(
            principal.tenant_id, "scheduling.appointment.held", actor=_actor(principal), target_type="appointment",
            target_id=appointment_id, patient_id=patient_id,
        ),
    )  # fmt: skip
    held = await conn.fetchrow(_INSERT_SQL, *args)
    # A conflict may be a lapsed hold nobody has marked expired yet: mark it, and try once more.
    if held is None and await expire_stale_holds_on(conn, practitioner_id, slot.starts_at, slot.ends_at):
        held = await conn.fetchrow(_INSERT_SQL, *args)
    if held is None:
        raise Conflict(SLOT_TAKEN, code_hint="slot_taken")
    return held


async def _why_not_confirmed(conn: asyncpg.Connection, principal: Principal, appointment_id: uuid.UUID) -> None:
    """Raise the problem that explains why the guarded update matched nothing (the checks and their order
    are ``booking.get_for`` and ``booking.confirm``'s); return if the hold is confirmable after all."""
    row = await conn.fetchrow(_CONFIRM_DIAGNOSE_SQL, appointment_id, principal.user_id)
    if row is None:
        raise NotFound("No such appointment.")
    own = row["booked_by_user_id"] == principal.user_id
    if principal.role is Role.PATIENT and not (own or row["mine"]):
        raise NotFound("No such appointment.")
    if row["status"] != "held":
        raise Conflict(f"Only a held slot can be confirmed; this appointment is {row['status']}.")
    if principal.role is Role.PATIENT and not own:
        raise NotFound("No such appointment.")
    if row["hold_expires_at"] is not None and row["hold_expires_at"] <= utcnow():
        await conn.execute(_EXPIRE_ONE_SQL, appointment_id)
        raise Gone("The hold on this slot has expired. Pick the slot again.", keep_changes=True)


async def confirm_on(conn: asyncpg.Connection, principal: Principal, appointment_id: uuid.UUID) -> asyncpg.Record:
    """Confirm a hold (see ``booking.confirm``); returns the appointment's row (``COLUMNS``)."""
    if principal.role is not Role.PATIENT and not principal.can(P.APPOINTMENTS_READ):
        raise NotFound("No such appointment.")
    only_by = principal.user_id if principal.role is Role.PATIENT else None
    row = await conn.fetchrow(_CONFIRM_SQL, appointment_id, utcnow(), only_by)
    if row is None:
        await _why_not_confirmed(conn, principal, appointment_id)
        row = await conn.fetchrow(_CONFIRM_SQL, appointment_id, utcnow(), only_by)  # locked by us now
        assert row is not None
    if row["source"] == "waitlist":  # rare: no cost to the ordinary booking
        await conn.execute(_OFFER_BOOKED_SQL, row["id"])
    payload = event_payload(row)
    messages = [Message("appointment.booked", payload)]
    if row["status"] == "confirmed":
        messages.append(Message("appointment.confirmed", payload))
    audit_args = audit.pending_args(
        principal.tenant_id, "scheduling.appointment.booked", actor=_actor(principal), target_type="appointment",
        target_id=row["id"], patient_id=row["patient_id"], details={"status": row["status"]},
    )  # fmt: skip
    await conn.fetchval(_BOOKED_SQL, *audit_args, *emit_args(principal.tenant_id, *messages))
    return row
