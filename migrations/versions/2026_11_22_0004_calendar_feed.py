"""calendar feed: app_calendar_feed_lookup() finds a practitioner's tenant from the hash of their
private calendar token, for the public feed URL (no sign-in, so no tenant context yet).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 23:30:00
"""

from collections.abc import Sequence

from alembic import op

from carebase.core import rls

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SECURITY DEFINER: runs as the migrating owner, whose owner_maintenance policy sees every tenant,
# because row-level security hides practitioners from the app role until a tenant is set. It answers
# exactly one question (which tenant and practitioner own this token hash) and nothing else; the
# search_path is pinned so callers cannot substitute objects.
FUNCTION = """
CREATE OR REPLACE FUNCTION app_calendar_feed_lookup(p_token_hash text)
RETURNS TABLE (tenant_id uuid, practitioner_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT p.tenant_id, p.id
  FROM public.practitioners p
  JOIN public.organizations o ON o.id = p.tenant_id
  WHERE p.calendar_token = p_token_hash AND p.is_active AND o.status = 'active'
$$
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION app_calendar_feed_lookup(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_calendar_feed_lookup(text) TO {rls.app_role()}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_calendar_feed_lookup(text)")
