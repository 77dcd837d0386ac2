"""invalidation: committed changes that in-process caches depend on are announced with NOTIFY on
``carebase_invalidate`` (see ``carebase.core.invalidation``).

Payloads (ids as text):
- ``p:<tenant>:<practitioner>``: a practitioner's appointments, holds, templates or exceptions changed;
- ``a:<tenant>``: something every availability of a tenant depends on (holidays, services, locations,
  practitioners);
- ``u:<user>``: a user's sessions, memberships or account changed (cached principals);
- ``o:<tenant>``: the organisation itself changed (status, settings).

NOTIFY is transactional: listeners hear of a change only once it has committed, never of a
rolled-back one, and in commit order. Identical payloads of one transaction are sent once.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 01:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION app_notify_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
  scope text := TG_ARGV[0];
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF scope = 'practitioner' THEN
    PERFORM pg_notify('carebase_invalidate', 'p:' || r.tenant_id || ':' || r.practitioner_id);
    IF TG_OP = 'UPDATE' AND OLD.practitioner_id IS DISTINCT FROM NEW.practitioner_id THEN
      PERFORM pg_notify('carebase_invalidate', 'p:' || OLD.tenant_id || ':' || OLD.practitioner_id);
    END IF;
  ELSIF scope = 'tenant' THEN
    PERFORM pg_notify('carebase_invalidate', 'a:' || r.tenant_id);
  ELSIF scope = 'user' THEN
    PERFORM pg_notify('carebase_invalidate', 'u:' || r.user_id);
  ELSIF scope = 'user_row' THEN
    PERFORM pg_notify('carebase_invalidate', 'u:' || r.id);
  ELSIF scope = 'organization' THEN
    PERFORM pg_notify('carebase_invalidate', 'o:' || r.id);
  END IF;
  RETURN NULL;
END
$$
"""

# (table, scope, events): only the columns a cached answer depends on fire an UPDATE trigger.
TRIGGERS = [
    ("appointments", "practitioner",
     "INSERT OR DELETE OR UPDATE OF status, starts_at, ends_at, practitioner_id, hold_expires_at"),
    ("schedule_templates", "practitioner", "INSERT OR UPDATE OR DELETE"),
    ("schedule_exceptions", "practitioner", "INSERT OR UPDATE OR DELETE"),
    ("holidays", "tenant", "INSERT OR UPDATE OR DELETE"),
    ("services", "tenant", "INSERT OR UPDATE OR DELETE"),
    ("practitioner_services", "tenant", "INSERT OR UPDATE OR DELETE"),
    ("practitioners", "tenant", "INSERT OR UPDATE OR DELETE"),
    ("locations", "tenant", "INSERT OR UPDATE OR DELETE"),
    ("auth_sessions", "user", "DELETE OR UPDATE OF revoked_at, expires_at, mfa_verified"),
    ("memberships", "user", "DELETE OR UPDATE OF role, status"),
    ("users", "user_row", "DELETE OR UPDATE OF is_active, mfa_enabled_at, full_name"),
    ("organizations", "organization", "UPDATE OR DELETE"),
]  # fmt: skip


def upgrade() -> None:
    op.execute(FUNCTION)
    for table, scope, events in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {table}_invalidate AFTER {events} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION app_notify_invalidate('{scope}')"
        )


def downgrade() -> None:
    for table, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_invalidate ON {table}")
    op.execute("DROP FUNCTION IF EXISTS app_notify_invalidate()")
