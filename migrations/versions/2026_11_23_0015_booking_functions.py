"""booking: the hold's load, the hold's insert and the confirm as functions that set the tenant context
themselves, so each runs as one statement in its own (implicit) transaction: one round trip each, where a
``BEGIN`` + statement + ``COMMIT`` took three. A hold + confirm goes from eight round trips to three.

PL/pgSQL runs its statements in order, so the query after ``set_config`` already sees the context it set
(as ``app_authenticate``, migration 0002); ``set_config(..., true)`` ends with the transaction, which is
the statement's own when called outside ``BEGIN``. SECURITY INVOKER (the default): row-level security
applies to the caller exactly as to its own statements, and the caller could set the same context itself.
Called inside an open transaction (the ORM paths), they set the context that transaction already has.

Their audit events are linked into the tenant's chain just after the commit, not during it. Linking at
commit (migration 0010) holds the chain head's row lock until the commit is on disk, so a tenant's
booking commits ran one at a time: at 64 concurrent clients in one clinic, each waited 9 ms on average
for that lock, and one clinic booked a quarter slower than the same load spread over 16. Now a pending
row says whether it is linked at commit (``link_at_commit``, the default, as before) or by
``app_audit_link_pending``, which links all of a tenant's waiting rows under one lock and one commit;
the web process calls it once for every request that waited for it since its last call
(``audit.linker``), and the worker's sweep links what a crashed process left. ``audit_pending`` is
therefore logged now: a committed booking's event waits there for its link and must survive a crash.

Their NOTIFYs move there too. A transaction that NOTIFYs holds PostgreSQL's one notification-queue lock
from its pre-commit until its commit is flushed, so every booking commit of every tenant queued behind
the others' (removing them gained ~17% of bookings/s back to back). Run outside a transaction, the
booking functions set ``app.notify_later``, which makes the invalidation trigger stand aside for that
statement and the confirm skip its outbox wake-up; the linker's call sends them, once per batch, after
the bookings have committed. Inside a transaction (the ORM paths) nothing changes.

``app_can_book_for`` is the "own registration or dependant" test the load uses, and the Python side's
``dependents.can_book_for_sql`` now calls it, so the rule is written once. A plain SQL function: the
planner inlines it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 06:00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

from carebase.core import rls

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENTER = """
  PERFORM set_config('app.tenant_id', p_tenant::text, true), set_config('app.user_id', p_user::text, true),
          set_config('app.platform_admin', '', true);"""
# The writes also say whether the caller announces them after the commit (outside a transaction only).
_ENTER_WRITE = _ENTER + """
  PERFORM set_config('app.notify_later', CASE WHEN p_link_at_commit THEN '' ELSE 'on' END, true);"""

# Migration 0009's trigger function, standing aside while ``app.notify_later`` is on (0009's text is loaded
# from its file, which, like every applied migration, never changes; the downgrade puts it back).
_V0009 = importlib.util.spec_from_file_location("_v0009", Path(__file__).with_name("2026_11_23_0009_invalidation_notify.py"))
assert _V0009 is not None and _V0009.loader is not None
_v0009 = importlib.util.module_from_spec(_V0009)
_V0009.loader.exec_module(_v0009)
_STAND_ASIDE = """BEGIN
  IF current_setting('app.notify_later', true) = 'on' THEN
    RETURN NULL;
  END IF;
"""
assert _v0009.FUNCTION.count("BEGIN\n") == 1
NOTIFY_INVALIDATE = _v0009.FUNCTION.replace("BEGIN\n", _STAND_ASIDE)

CAN_BOOK_FOR = """
CREATE OR REPLACE FUNCTION app_can_book_for(p_patient uuid, p_user uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM patients WHERE id = p_patient AND user_id = p_user)
      OR EXISTS (SELECT 1 FROM dependents WHERE patient_id = p_patient AND guardian_user_id = p_user)
$$
"""

# What a hold's checks need, in one row (see hold_confirm.hold_on): the practitioner, the organisation's
# booking horizon (p_default_horizon unless it set one), whether the booker may book for the patient, their
# active holds, the service's terms, and the templates, exceptions and holidays around the instant.
HOLD_LOAD = f"""
CREATE OR REPLACE FUNCTION app_hold_load(
  p_tenant uuid, p_user uuid, p_practitioner uuid, p_service uuid, p_patient uuid, p_starts timestamptz,
  p_is_patient boolean, p_now timestamptz, p_default_horizon int)
RETURNS TABLE (active boolean, horizon_days int, patient_ok boolean, holds bigint, service json, templates json,
               exceptions json, holidays json)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN{_ENTER}
  RETURN QUERY SELECT
    (SELECT p.is_active FROM practitioners p WHERE p.id = p_practitioner),
    coalesce((SELECT (o.settings->>'booking_horizon_days')::int FROM organizations o WHERE o.id = p_tenant),
             p_default_horizon),
    CASE WHEN p_is_patient THEN app_can_book_for(p_patient, p_user)
         ELSE EXISTS (SELECT 1 FROM patients WHERE id = p_patient) END,
    (SELECT count(*) FROM appointments a
      WHERE a.booked_by_user_id = p_user AND a.status = 'held' AND a.hold_expires_at > p_now),
    (SELECT json_build_array(s.duration_minutes, s.price_minor, s.currency, s.mode, s.payment)
       FROM services s JOIN practitioner_services ps ON ps.service_id = s.id
      WHERE ps.practitioner_id = p_practitioner AND s.id = p_service AND s.is_active),
    (SELECT coalesce(json_agg(json_build_array(t.weekday, t.start_time, t.end_time, t.slot_minutes, t.valid_from,
                                                t.valid_until, t.location_id, l.timezone)), '[]')
       FROM schedule_templates t JOIN locations l ON l.id = t.location_id
      WHERE t.practitioner_id = p_practitioner AND t.is_active AND l.is_active
        AND t.weekday = extract(isodow FROM p_starts AT TIME ZONE l.timezone)::int - 1
        AND t.valid_from <= (p_starts AT TIME ZONE l.timezone)::date
        AND (t.valid_until IS NULL OR t.valid_until >= (p_starts AT TIME ZONE l.timezone)::date)),
    (SELECT coalesce(json_agg(json_build_array(e.kind, e.starts_at, e.ends_at, e.slot_minutes, e.location_id)), '[]')
       FROM schedule_exceptions e
      WHERE e.practitioner_id = p_practitioner AND e.starts_at < p_starts + interval '1 day'
        AND e.ends_at > p_starts),
    (SELECT coalesce(json_agg(json_build_array(h.day, h.location_id)), '[]')
       FROM holidays h
      WHERE h.day BETWEEN (p_starts AT TIME ZONE 'UTC')::date - 1 AND (p_starts AT TIME ZONE 'UTC')::date + 1);
END
$$
"""

# The hold and its pending audit event; no row when the slot is taken (the no_double_booking constraint).
HOLD_INSERT = f"""
CREATE OR REPLACE FUNCTION app_hold_insert(
  p_tenant uuid, p_user uuid, p_id uuid, p_practitioner uuid, p_patient uuid, p_service uuid, p_location uuid,
  p_starts timestamptz, p_ends timestamptz, p_hold_expires timestamptz, p_source text, p_mode text, p_price int,
  p_currency text, p_payment_status text, p_reason text,
  p_audit_id uuid, p_audit_event jsonb, p_audit_prefix bytea, p_audit_suffix bytea, p_link_at_commit boolean)
RETURNS SETOF appointments
LANGUAGE plpgsql VOLATILE AS $$
BEGIN{_ENTER_WRITE}
  RETURN QUERY
    WITH ins AS (
      INSERT INTO appointments (id, tenant_id, practitioner_id, patient_id, service_id, location_id, starts_at,
                                ends_at, status, hold_expires_at, source, booked_by_user_id, mode, price_minor,
                                currency, payment_status, reason)
      VALUES (p_id, p_tenant, p_practitioner, p_patient, p_service, p_location, p_starts, p_ends, 'held',
              p_hold_expires, p_source, p_user, p_mode, p_price, p_currency, p_payment_status, p_reason)
      ON CONFLICT DO NOTHING
      RETURNING *
    ), audit AS (
      INSERT INTO audit_pending (id, tenant_id, event, prefix, suffix, link_at_commit)
      SELECT p_audit_id, p_tenant, p_audit_event, p_audit_prefix, p_audit_suffix, p_link_at_commit FROM ins
    )
    SELECT * FROM ins;
END
$$
"""

# Confirm a live hold: 'confirmed', or 'requested' when the practitioner approves bookings. With it, in the
# same statement: a waitlist offer it came from is closed, the events go into the outbox (p_topics[1]
# always, p_topics[2] only when confirmed; their payload is scheduling.holds.event_payload's) and the
# audit event is queued. The caller knows neither the patient nor the outcome, so it prepares the event
# with "patient_id":null and "details":{"status":null}; both are filled in here, in the event and in the
# canonical bytes its hash is computed from (keys sorted, no spaces: exactly these byte sequences).
# No row when nothing matched: the caller looks at why.
CONFIRM = f"""
CREATE OR REPLACE FUNCTION app_confirm_hold(
  p_tenant uuid, p_user uuid, p_id uuid, p_now timestamptz, p_only_by uuid, p_event_ids uuid[], p_topics text[],
  p_audit_id uuid, p_audit_event jsonb, p_audit_prefix bytea, p_audit_suffix bytea, p_link_at_commit boolean)
RETURNS SETOF appointments
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  a appointments;
  payload jsonb;
  k int;
BEGIN{_ENTER_WRITE}
  UPDATE appointments ap
     SET status = CASE WHEN p.approves_bookings THEN 'requested' ELSE 'confirmed' END,
         hold_expires_at = NULL, version = ap.version + 1, updated_at = now()
    FROM practitioners p
   WHERE ap.id = p_id AND p.id = ap.practitioner_id AND ap.status = 'held'
     AND (ap.hold_expires_at IS NULL OR ap.hold_expires_at > p_now)
     AND (p_only_by IS NULL OR ap.booked_by_user_id = p_only_by)
  RETURNING ap.* INTO a;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF a.source = 'waitlist' THEN
    UPDATE waitlist_entries SET status = 'booked', updated_at = now()
     WHERE offered_appointment_id = a.id AND status = 'offered';
  END IF;
  payload := jsonb_build_object(
    'appointment_id', a.id::text, 'practitioner_id', a.practitioner_id::text, 'patient_id', a.patient_id::text,
    'location_id', a.location_id::text,
    'starts_at', to_char(a.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00',
    'status', a.status);
  k := CASE WHEN a.status = 'confirmed' THEN 2 ELSE 1 END;
  INSERT INTO outbox (id, tenant_id, topic, payload)
  SELECT p_event_ids[i], p_tenant, p_topics[i], payload FROM generate_series(1, k) AS i;
  IF p_link_at_commit THEN  -- else the caller wakes the worker after the commit
    PERFORM pg_notify('carebase_outbox', p_topics[i]) FROM generate_series(1, k) AS i;
  END IF;
  INSERT INTO audit_pending (id, tenant_id, event, prefix, suffix, link_at_commit)
  VALUES (p_audit_id, p_tenant,
          p_audit_event || jsonb_build_object('patient_id', a.patient_id, 'details', jsonb_build_object('status', a.status)),
          convert_to(replace(replace(convert_from(p_audit_prefix, 'UTF8'),
                                     '"details":{{"status":null}}', '"details":{{"status":"' || a.status || '"}}'),
                             '"patient_id":null', '"patient_id":"' || a.patient_id || '"'), 'UTF8'),
          p_audit_suffix, p_link_at_commit);
  RETURN NEXT a;
END
$$
"""

# A tenant's events waiting for their link, linked in the order they were made (uuid7 ids), under one lock
# of the chain's head; returns how many. Any caller that waited for the lock finds what the holder linked
# gone (each statement here takes a fresh snapshot), so nothing is linked twice.
LINK_PENDING = """
CREATE OR REPLACE FUNCTION app_audit_link_pending(p_tenant uuid) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r record;
  ids uuid[] := '{}';
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true);
  IF NOT EXISTS (SELECT 1 FROM audit_pending WHERE tenant_id = p_tenant AND NOT link_at_commit) THEN
    RETURN 0;
  END IF;
  INSERT INTO audit_heads (tenant_id, seq, hash) VALUES (p_tenant, 0, repeat('0', 64)) ON CONFLICT DO NOTHING;
  PERFORM 1 FROM audit_heads WHERE tenant_id = p_tenant FOR UPDATE;
  FOR r IN SELECT id, event, prefix, suffix FROM audit_pending
            WHERE tenant_id = p_tenant AND NOT link_at_commit ORDER BY id
  LOOP
    PERFORM app_audit_append(r.event, r.prefix, r.suffix);
    ids := ids || r.id;
  END LOOP;
  DELETE FROM audit_pending WHERE id = ANY (ids);
  RETURN cardinality(ids);
END
$$
"""

SIGNATURES = (
    "app_can_book_for(uuid, uuid)",
    "app_hold_load(uuid, uuid, uuid, uuid, uuid, timestamptz, boolean, timestamptz, int)",
    "app_hold_insert(uuid, uuid, uuid, uuid, uuid, uuid, uuid, timestamptz, timestamptz, timestamptz, text, text,"
    " int, text, text, text, uuid, jsonb, bytea, bytea, boolean)",
    "app_confirm_hold(uuid, uuid, uuid, timestamptz, uuid, uuid[], text[], uuid, jsonb, bytea, bytea, boolean)",
    "app_audit_link_pending(uuid)",
)


def upgrade() -> None:
    op.execute("ALTER TABLE audit_pending SET LOGGED")
    op.execute("ALTER TABLE audit_pending ADD COLUMN link_at_commit boolean NOT NULL DEFAULT true")
    op.execute("DROP TRIGGER audit_link ON audit_pending")
    op.execute(
        "CREATE CONSTRAINT TRIGGER audit_link AFTER INSERT ON audit_pending DEFERRABLE INITIALLY DEFERRED"
        " FOR EACH ROW WHEN (NEW.link_at_commit) EXECUTE FUNCTION app_audit_link()"
    )
    op.execute("ALTER TABLE audit_pending ENABLE ALWAYS TRIGGER audit_link")
    for ddl in (NOTIFY_INVALIDATE, CAN_BOOK_FOR, HOLD_LOAD, HOLD_INSERT, CONFIRM, LINK_PENDING):
        op.get_bind().exec_driver_sql(ddl)  # as written: ':null' in CONFIRM is JSON, not a bind parameter
    for signature in SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {rls.app_role()}")


def downgrade() -> None:
    op.execute(
        "SELECT app_audit_link_pending(t.tenant_id)"
        " FROM (SELECT DISTINCT tenant_id FROM audit_pending WHERE NOT link_at_commit) AS t"
    )
    for signature in reversed(SIGNATURES):
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute(_v0009.FUNCTION)
    op.execute("DROP TRIGGER audit_link ON audit_pending")
    op.execute(
        "CREATE CONSTRAINT TRIGGER audit_link AFTER INSERT ON audit_pending DEFERRABLE INITIALLY DEFERRED"
        " FOR EACH ROW EXECUTE FUNCTION app_audit_link()"
    )
    op.execute("ALTER TABLE audit_pending ENABLE ALWAYS TRIGGER audit_link")
    op.execute("ALTER TABLE audit_pending DROP COLUMN link_at_commit")
    op.execute("ALTER TABLE audit_pending SET UNLOGGED")
