"""booking: a hold in one round trip when this process already knows the practitioner's schedule.

A hold used to read, every time, what its checks need (``app_hold_load``: the practitioner, the service's
terms, the booking horizon, the templates, exceptions and holidays around the instant, the patient and the
booker's active holds), then insert. Only the last two depend on who books; the rest changes when someone
edits a schedule, a service, a location or the organisation, and every such commit is announced on
``carebase_invalidate``. So a serve process keeps the schedule part per practitioner, service and day
(``scheduling.holdrules``), loaded by ``app_hold_rules``, and the hold is one statement, ``app_hold_place``:
the patient and active-hold checks and the insert of ``app_hold_insert``.

- ``app_hold_rules`` reads the rules for a whole UTC day and the days either side (the slot check looks at
  the local days around the instant), so one load serves every hold of that day.
- ``app_hold_place`` raises SQLSTATE ``CB001`` when the booker may not book for the patient (or, for staff,
  the patient is not this organisation's), ``CB002`` when the booker already holds ``p_max_holds`` slots (the
  message is the count). A raised statement writes nothing.
- Schedule templates and exceptions now also announce ``s:<tenant>:<practitioner>``. ``p:`` (migration 0009)
  says that a practitioner's free time changed, which every booking does, so it would empty this cache as
  fast as it filled it; ``s:`` says that the schedule itself did.

``app_hold_load`` stays for a downgrade's code and goes with a later migration.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 08:00:00
"""

from collections.abc import Sequence

from alembic import op

from carebase.core import rls

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENTER = """
  PERFORM set_config('app.tenant_id', p_tenant::text, true), set_config('app.user_id', p_user::text, true),
          set_config('app.platform_admin', '', true);"""

NOTIFY_SCHEDULE = """
CREATE OR REPLACE FUNCTION app_notify_schedule() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM pg_notify('carebase_invalidate', 's:' || r.tenant_id || ':' || r.practitioner_id);
  IF TG_OP = 'UPDATE' AND OLD.practitioner_id IS DISTINCT FROM NEW.practitioner_id THEN
    PERFORM pg_notify('carebase_invalidate', 's:' || OLD.tenant_id || ':' || OLD.practitioner_id);
  END IF;
  RETURN NULL;
END
$$
"""
SCHEDULE_TABLES = ("schedule_templates", "schedule_exceptions")

# The schedule side of a hold's checks for the UTC day p_day and the days either side (see above).
HOLD_RULES = f"""
CREATE OR REPLACE FUNCTION app_hold_rules(
  p_tenant uuid, p_user uuid, p_practitioner uuid, p_service uuid, p_day date, p_default_horizon int)
RETURNS TABLE (active boolean, horizon_days int, service json, templates json, exceptions json, holidays json)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN{_ENTER}
  RETURN QUERY SELECT
    (SELECT p.is_active FROM practitioners p WHERE p.id = p_practitioner),
    coalesce((SELECT (o.settings->>'booking_horizon_days')::int FROM organizations o WHERE o.id = p_tenant),
             p_default_horizon),
    (SELECT json_build_array(s.duration_minutes, s.price_minor, s.currency, s.mode, s.payment)
       FROM services s JOIN practitioner_services ps ON ps.service_id = s.id
      WHERE ps.practitioner_id = p_practitioner AND s.id = p_service AND s.is_active),
    (SELECT coalesce(json_agg(json_build_array(t.weekday, t.start_time, t.end_time, t.slot_minutes, t.valid_from,
                                                t.valid_until, t.location_id, l.timezone)), '[]')
       FROM schedule_templates t JOIN locations l ON l.id = t.location_id
      WHERE t.practitioner_id = p_practitioner AND t.is_active AND l.is_active
        AND t.valid_from <= p_day + 1 AND (t.valid_until IS NULL OR t.valid_until >= p_day - 1)),
    (SELECT coalesce(json_agg(json_build_array(e.kind, e.starts_at, e.ends_at, e.slot_minutes, e.location_id)), '[]')
       FROM schedule_exceptions e
      WHERE e.practitioner_id = p_practitioner
        AND e.starts_at < ((p_day + 2)::timestamp AT TIME ZONE 'UTC')
        AND e.ends_at > ((p_day - 1)::timestamp AT TIME ZONE 'UTC')),
    (SELECT coalesce(json_agg(json_build_array(h.day, h.location_id)), '[]')
       FROM holidays h WHERE h.day BETWEEN p_day - 2 AND p_day + 2);
END
$$
"""

# The booker's checks, then app_hold_insert's insert (which sets the context again, with app.notify_later).
HOLD_PLACE = f"""
CREATE OR REPLACE FUNCTION app_hold_place(
  p_is_patient boolean, p_max_holds int, p_now timestamptz,
  p_tenant uuid, p_user uuid, p_id uuid, p_practitioner uuid, p_patient uuid, p_service uuid, p_location uuid,
  p_starts timestamptz, p_ends timestamptz, p_hold_expires timestamptz, p_source text, p_mode text, p_price int,
  p_currency text, p_payment_status text, p_reason text,
  p_audit_id uuid, p_audit_event jsonb, p_audit_prefix bytea, p_audit_suffix bytea, p_link_at_commit boolean)
RETURNS SETOF appointments
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n bigint;
BEGIN{_ENTER}
  IF NOT (CASE WHEN p_is_patient THEN app_can_book_for(p_patient, p_user)
               ELSE EXISTS (SELECT 1 FROM patients WHERE id = p_patient) END) THEN
    RAISE EXCEPTION 'not a patient this booker may book for' USING ERRCODE = 'CB001';
  END IF;
  SELECT count(*) INTO n FROM appointments a
   WHERE a.booked_by_user_id = p_user AND a.status = 'held' AND a.hold_expires_at > p_now;
  IF n >= p_max_holds THEN
    RAISE EXCEPTION '%', n USING ERRCODE = 'CB002';
  END IF;
  RETURN QUERY SELECT * FROM app_hold_insert(
    p_tenant, p_user, p_id, p_practitioner, p_patient, p_service, p_location, p_starts, p_ends, p_hold_expires,
    p_source, p_mode, p_price, p_currency, p_payment_status, p_reason, p_audit_id, p_audit_event, p_audit_prefix,
    p_audit_suffix, p_link_at_commit);
END
$$
"""

SIGNATURES = (
    "app_hold_rules(uuid, uuid, uuid, uuid, date, int)",
    "app_hold_place(boolean, int, timestamptz, uuid, uuid, uuid, uuid, uuid, uuid, uuid, timestamptz, timestamptz,"
    " timestamptz, text, text, int, text, text, text, uuid, jsonb, bytea, bytea, boolean)",
)


def upgrade() -> None:
    for ddl in (NOTIFY_SCHEDULE, HOLD_RULES, HOLD_PLACE):
        op.execute(ddl)
    for table in SCHEDULE_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_schedule_changed AFTER INSERT OR UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION app_notify_schedule()"
        )
    for signature in SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {rls.app_role()}")


def downgrade() -> None:
    for signature in SIGNATURES:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    for table in SCHEDULE_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_schedule_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS app_notify_schedule()")
