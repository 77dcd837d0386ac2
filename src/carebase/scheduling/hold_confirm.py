"""Hold and confirm on a bare asyncpg connection: the booking hot path, in few round trips and no ORM.

Each write is one call of a function that sets the tenant context itself (migrations 0015, 0017), so outside a
transaction it is one statement in its own: a hold is one round trip when the process knows the day's schedule,
two when it does not, and a confirm one.

- **Hold**: the schedule side of the checks (practitioner, service terms, horizon, the templates, exceptions
  and holidays around the instant's UTC day) comes from the process's hold-rules cache (``holdrules``) or
  ``app_hold_rules``; the slot check looks the instant up among the slots ``compute_slots`` gives for the
  local days around that UTC day (``HoldRules.slot``, computed once per entry and service length), so a hold
  accepts exactly the slots availability offers, except that busy time is not looked at: ``app_hold_place`` checks
  the patient and the booker's active holds (SQLSTATE ``CB001``/``CB002``) and inserts, and the
  ``no_double_booking`` exclusion constraint decides (``ON CONFLICT DO NOTHING``, with the audit event).
  Only on a conflict does a transaction open, to expire a lapsed hold and retry.
- **Confirm**: ``app_confirm_hold`` is the guarded update, the events, a waitlist offer's closing and the
  audit event in one statement; only when it matches nothing do we look, in a transaction, at the row to
  say why (404, 409, or 410 with the expiry recorded).

Audit events go into ``audit_pending`` within the command's own write statement. Inside a transaction they
join the tenant's chain while it commits (migration 0010); a statement of its own leaves them for the
process's group linker, which the request waits for before its response (``audit.linker``).
The session-based ``booking.place_hold`` / ``booking.confirm`` run these on the session's connection,
inside its transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from carebase.audit import service as audit
from carebase.audit.linker import link_after_commit
from carebase.core import invalidation
from carebase.core.clock import utcnow
from carebase.core.errors import Conflict, Gone, NotFound, PermissionDenied, ValidationFailed
from carebase.core.ids import new_id
from carebase.core.uow import raw_transaction_unless_open
from carebase.core.worker import CHANNEL as OUTBOX_CHANNEL
from carebase.identity.principal import Principal
from carebase.identity.roles import Role
from carebase.scheduling.availability import beyond_horizon
from carebase.scheduling.dependents import can_book_for_sql
from carebase.scheduling.holdrules import HoldRules, HoldRulesCache
from carebase.scheduling.holds import (
    HOLD_MINUTES,
    MAX_ACTIVE_HOLDS,
    SLOT_TAKEN,
    expire_stale_holds_on,
)
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.tenancy.service import DEFAULT_POLICY

# The hold's rules, its checks and insert, and the confirm are functions that set the tenant context themselves
# (migrations 0015, 0017): outside a transaction each is one statement in its own, one round trip.


def _call(function: str, arity: int) -> str:
    return f"SELECT * FROM {function}({', '.join(f'${i}' for i in range(1, arity + 1))})"  # noqa: S608 (constants)


_RULES_SQL = _call("app_hold_rules", 6)
_PLACE_SQL = _call("app_hold_place", 24)
_INSERT_SQL = _call("app_hold_insert", 21)
_CONFIRM_SQL = _call("app_confirm_hold", 12)
_CONFIRMED_TOPICS = ["appointment.booked", "appointment.confirmed"]  # the second only when confirmed

# Why a confirm matched nothing ($1 appointment, $2 user).
_CONFIRM_DIAGNOSE_SQL = f"""
SELECT a.status, a.hold_expires_at, a.booked_by_user_id, {can_book_for_sql("a.patient_id", "$2")} AS mine
  FROM appointments a WHERE a.id = $1 FOR UPDATE
"""  # noqa: S608
_EXPIRE_ONE_SQL = "UPDATE appointments SET status = 'expired', updated_at = now() WHERE id = $1"

SLOT_GONE = "That time is not free in this practitioner's schedule. Pick one of the free slots."


def announce(tenant_id: uuid.UUID, row: asyncpg.Record) -> None:
    """Tell this process's caches (availability) at once, after the commit, that the practitioner's time
    changed; other processes hear it from the database's NOTIFY (migration 0009). ORM writes do this by
    themselves (``invalidation.track_orm_changes``); these statements bypass the ORM."""
    invalidation.apply("p", str(tenant_id), str(row["practitioner_id"]))


def _notices(tenant_id: uuid.UUID, row: asyncpg.Record, *, events: bool) -> list[tuple[str, str]]:
    """What the triggers would have announced at commit, had the statement not set ``app.notify_later``:
    the practitioner's time changed (migration 0009's payload) and, with ``events``, the worker's wake-up."""
    notices = [(invalidation.CHANNEL, f"p:{tenant_id}:{row['practitioner_id']}")]
    if events:
        notices.append((OUTBOX_CHANNEL, "appointment.booked"))
    return notices


def _actor(principal: Principal) -> audit.Actor:
    return audit.Actor(principal.user_id, principal.role)


async def _rules(
    conn: asyncpg.Connection, principal: Principal, practitioner_id: uuid.UUID | None, service_id: uuid.UUID | None,
    starts_at: datetime, cache: HoldRulesCache | None,
) -> HoldRules:
    """The schedule side of the checks for the instant's UTC day: from the cache, or one round trip."""
    day = starts_at.astimezone(UTC).date()
    key = (principal.tenant_id, practitioner_id, service_id, day)
    if cache is not None and practitioner_id and service_id and (rules := cache.get(key)) is not None:
        return rules
    snapshot = cache.snapshot(principal.tenant_id, practitioner_id) if cache is not None else None
    row = await conn.fetchrow(_RULES_SQL, principal.tenant_id, principal.user_id, practitioner_id, service_id, day,
                              DEFAULT_POLICY["booking_horizon_days"])  # fmt: skip
    assert row is not None
    rules = HoldRules.from_row(row, day)
    if cache is not None and snapshot is not None and practitioner_id and service_id:
        cache.put(key, rules, snapshot)  # type: ignore[arg-type]
    return rules


async def _place(conn: asyncpg.Connection, is_patient: bool, now: datetime, args: tuple[object, ...]) -> Any:
    """The booker's checks and the insert, in one statement (``app_hold_place``); None when the slot is taken."""
    try:
        return await conn.fetchrow(_PLACE_SQL, is_patient, MAX_ACTIVE_HOLDS, now, *args)
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == "CB001":
            if is_patient:
                raise PermissionDenied(
                    "You can book only for yourself and the family members linked to your account.") from None
            raise ValidationFailed.field("patient_id", "No such patient in this organisation.") from None
        if exc.sqlstate == "CB002":
            raise Conflict(f"You already hold {exc.message} slots. Confirm or release one first.") from None
        raise


@dataclass(frozen=True, slots=True)
class HoldRequest:
    practitioner_id: uuid.UUID | None
    service_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    starts_at: datetime
    location_id: uuid.UUID | None = None
    source: str = "patient"
    reason: str = ""


async def hold_on(
    conn: asyncpg.Connection, principal: Principal, req: HoldRequest, rules_cache: HoldRulesCache | None = None
) -> asyncpg.Record:
    """Place a hold (see ``booking.place_hold``); returns the appointment's row (``COLUMNS``). With
    ``rules_cache`` (a serve process's) the schedule side of the checks usually needs no round trip."""
    now = utcnow()
    practitioner_id, patient_id, starts_at = req.practitioner_id, req.patient_id, req.starts_at
    if starts_at.tzinfo is None:
        raise ValidationFailed.field("starts_at", "Give the time with its UTC offset.")
    if starts_at <= now:
        raise ValidationFailed.field("starts_at", "That time is in the past.")
    is_patient = principal.role is Role.PATIENT
    if is_patient and req.source != "patient":
        raise ValidationFailed.field("source", "Patients book as 'patient'.")
    rules = await _rules(conn, principal, practitioner_id, req.service_id, starts_at, rules_cache)
    if not rules.active:
        raise NotFound("No such practitioner.")
    if rules.service is None:
        raise ValidationFailed.field("service_id", "This practitioner does not offer that service.")
    duration, price_minor, currency, mode, payment = rules.service
    if (too_far := beyond_horizon(starts_at, rules.horizon_days, now)) is not None:
        raise too_far
    slot = rules.slot(starts_at, duration, req.location_id, now)
    if slot is None:
        raise Conflict(SLOT_GONE)
    appointment_id = new_id()
    audit_id, _, event, prefix, suffix = audit.pending_args(
        principal.tenant_id, "scheduling.appointment.held", actor=_actor(principal), target_type="appointment",
        target_id=appointment_id, patient_id=patient_id,
    )  # fmt: skip
    args = (
        principal.tenant_id, principal.user_id, appointment_id, practitioner_id, patient_id, req.service_id,
        slot.location_id, slot.starts_at, slot.ends_at, now + timedelta(minutes=HOLD_MINUTES), req.source, mode,
        price_minor, currency, "pending" if payment == "online" else "at_desk", req.reason, audit_id, event, prefix,
        suffix, conn.is_in_transaction(),
    )  # fmt: skip
    held = await _place(conn, is_patient, now, args)
    if held is None:
        # The slot is taken, perhaps by a lapsed hold nobody has marked expired yet: mark it, and try once more.
        async with raw_transaction_unless_open(conn, tenant_id=principal.tenant_id, user_id=principal.user_id):
            if await expire_stale_holds_on(conn, practitioner_id, slot.starts_at, slot.ends_at):
                held = await _place(conn, is_patient, now, args)
    if held is None:
        raise Conflict(SLOT_TAKEN, code_hint="slot_taken")
    if not conn.is_in_transaction():
        await link_after_commit(conn, principal.tenant_id, _notices(principal.tenant_id, held, events=False))
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


def _confirm_args(conn: asyncpg.Connection, principal: Principal, appointment_id: uuid.UUID) -> tuple[object, ...]:
    """``app_confirm_hold``'s parameters. Its audit event leaves the patient and the outcome (``details``'
    status) empty: only the update knows them, and the function fills them in."""
    audit_id, _, event, prefix, suffix = audit.pending_args(
        principal.tenant_id, "scheduling.appointment.booked", actor=_actor(principal), target_type="appointment",
        target_id=appointment_id, details={"status": None},
    )  # fmt: skip
    only_by = principal.user_id if principal.role is Role.PATIENT else None
    return (
        principal.tenant_id, principal.user_id, appointment_id, utcnow(), only_by, [new_id(), new_id()],
        _CONFIRMED_TOPICS, audit_id, event, prefix, suffix, conn.is_in_transaction(),
    )  # fmt: skip


async def confirm_on(conn: asyncpg.Connection, principal: Principal, appointment_id: uuid.UUID) -> asyncpg.Record:
    """Confirm a hold (see ``booking.confirm``); returns the appointment's row. The update, its events and
    its audit event are one statement (``app_confirm_hold``); only when it matches nothing do we look, in a
    transaction, at why (404, 409, or 410 with the expiry recorded)."""
    if principal.role is not Role.PATIENT and not principal.can(P.APPOINTMENTS_READ):
        raise NotFound("No such appointment.")
    row = await conn.fetchrow(_CONFIRM_SQL, *_confirm_args(conn, principal, appointment_id))
    if row is None:
        async with raw_transaction_unless_open(conn, tenant_id=principal.tenant_id, user_id=principal.user_id):
            await _why_not_confirmed(conn, principal, appointment_id)
            row = await conn.fetchrow(_CONFIRM_SQL, *_confirm_args(conn, principal, appointment_id))  # locked by us now
        assert row is not None
    if not conn.is_in_transaction():
        await link_after_commit(conn, principal.tenant_id, _notices(principal.tenant_id, row, events=True))
    return row
