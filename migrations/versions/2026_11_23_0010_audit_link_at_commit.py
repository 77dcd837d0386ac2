"""audit: events are linked into their tenant's chain at commit, by a deferred trigger.

A command inserts its event into ``audit_pending`` (unlogged, RLS per tenant), with the event's
canonical JSON split around its ``seq``, which only the chain's head knows. A deferred constraint
trigger runs ``app_audit_append`` for each such row while the transaction commits: it locks the
tenant's head, computes ``sha256(prev_hash || prefix || seq || suffix)`` (byte for byte what
``carebase audit verify`` recomputes in Python), inserts the event, moves the head, and deletes the
pending row. The head's row lock, which serialises a tenant's writers, is therefore taken inside
COMMIT and held only for the commit itself, not across the application's round trips.
Both functions are SECURITY INVOKER: the committing role's rights and RLS apply.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from carebase.core import rls

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND = """
CREATE OR REPLACE FUNCTION app_audit_append(p_event jsonb, p_prefix bytea, p_suffix bytea)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_tenant uuid := (p_event->>'tenant_id')::uuid;
  v_seq bigint;
  v_prev text;
  v_hash text;
BEGIN
  SELECT seq, hash INTO v_seq, v_prev FROM audit_heads WHERE tenant_id = v_tenant FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO audit_heads (tenant_id, seq, hash) VALUES (v_tenant, 0, repeat('0', 64)) ON CONFLICT DO NOTHING;
    SELECT seq, hash INTO STRICT v_seq, v_prev FROM audit_heads WHERE tenant_id = v_tenant FOR UPDATE;
  END IF;
  v_seq := v_seq + 1;
  v_hash := encode(sha256(convert_to(v_prev, 'UTF8') || p_prefix || convert_to(v_seq::text, 'UTF8') || p_suffix),
                   'hex');
  INSERT INTO audit_events
    SELECT * FROM jsonb_populate_record(
      NULL::audit_events, p_event || jsonb_build_object('seq', v_seq, 'prev_hash', v_prev, 'hash', v_hash));
  UPDATE audit_heads SET seq = v_seq, hash = v_hash WHERE tenant_id = v_tenant;
  RETURN v_seq;
END
$$
"""

# At commit the context is whatever the transaction set last, but one transaction may record events of
# several tenants (creating a tenant audits on the platform's chain and the new one's): link each event in
# the tenant it was recorded in, which RLS checked when the pending row went in.
LINK = """
CREATE OR REPLACE FUNCTION app_audit_link() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_context text := current_setting('app.tenant_id', true);
BEGIN
  IF (NEW.event->>'tenant_id')::uuid IS DISTINCT FROM NEW.tenant_id THEN
    RAISE EXCEPTION 'audit event % names another tenant than its pending row', NEW.id;
  END IF;
  PERFORM set_config('app.tenant_id', NEW.tenant_id::text, true);
  PERFORM app_audit_append(NEW.event, NEW.prefix, NEW.suffix);
  DELETE FROM audit_pending WHERE id = NEW.id;
  PERFORM set_config('app.tenant_id', coalesce(v_context, ''), true);
  RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("event", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("prefix", sa.LargeBinary(), nullable=False),
        sa.Column("suffix", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_pending")),
        prefixes=["UNLOGGED"],
    )
    rls.enable_tenant_rls("audit_pending")
    rls.grant("audit_pending", "SELECT, INSERT, DELETE")
    op.execute(APPEND)
    op.execute(LINK)
    op.execute(
        "CREATE CONSTRAINT TRIGGER audit_link AFTER INSERT ON audit_pending"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION app_audit_link()"
    )
    for signature in ("app_audit_append(jsonb, bytea, bytea)", "app_audit_link()"):
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {rls.app_role()}")


def downgrade() -> None:
    op.drop_table("audit_pending")
    op.execute("DROP FUNCTION IF EXISTS app_audit_link()")
    op.execute("DROP FUNCTION IF EXISTS app_audit_append(jsonb, bytea, bytea)")
