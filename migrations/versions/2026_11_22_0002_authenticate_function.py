"""authenticate in one round trip: app_authenticate() sets the transaction's context and returns
the live session's principal row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 23:00:00
"""

from collections.abc import Sequence

from alembic import op

from carebase.core import rls

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PL/pgSQL runs its statements in order, so the SELECT below already sees the context it set:
# row-level security on memberships and organizations applies to the tenant in the token.
# SECURITY INVOKER (the default): the function has exactly the caller's rights.
FUNCTION = """
CREATE OR REPLACE FUNCTION app_authenticate(p_session uuid, p_user uuid, p_tenant uuid, p_platform boolean)
RETURNS TABLE (full_name text, mfa_enrolled boolean, mfa_verified boolean, role text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true),
          set_config('app.user_id', p_user::text, true),
          set_config('app.platform_admin', CASE WHEN p_platform THEN 'on' ELSE '' END, true);
  RETURN QUERY
    SELECT u.full_name::text, u.mfa_enabled_at IS NOT NULL, s.mfa_verified, m.role::text
    FROM auth_sessions s
    JOIN users u ON u.id = s.user_id
    JOIN memberships m ON m.id = s.membership_id
    JOIN organizations o ON o.id = s.tenant_id
    WHERE s.id = p_session AND s.user_id = p_user AND s.tenant_id = p_tenant
      AND s.revoked_at IS NULL AND s.expires_at > now()
      AND u.is_active AND m.status = 'active' AND o.status = 'active';
END
$$
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION app_authenticate(uuid, uuid, uuid, boolean) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_authenticate(uuid, uuid, uuid, boolean) TO {rls.app_role()}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_authenticate(uuid, uuid, uuid, boolean)")
