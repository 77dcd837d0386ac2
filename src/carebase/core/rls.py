"""Row-level security helpers for migrations.

Each tenant-owned table gets RLS with FORCE and two policies:
- ``tenant_isolation`` for the app role: rows of the transaction's tenant only
  (``app.tenant_id``, set per transaction; unset means no rows at all);
- ``owner_maintenance`` for the migrating owner, which runs maintenance commands (audit verify).
"""

from __future__ import annotations

from alembic import op

from carebase.settings import get_settings

CURRENT_TENANT = "app_current_tenant()"
CURRENT_USER = "app_current_user()"

FUNCTIONS_SQL = [
    "CREATE OR REPLACE FUNCTION app_current_tenant() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE"
    " AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$",
    "CREATE OR REPLACE FUNCTION app_current_user() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE"
    " AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$",
    "CREATE OR REPLACE FUNCTION app_is_platform_admin() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE"
    " AS $$ SELECT coalesce(current_setting('app.platform_admin', true), '') = 'on' $$",
]


def app_role() -> str:
    return get_settings().database_app_role


def grant(table: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    op.execute(f"GRANT {privileges} ON {table} TO {app_role()}")


def enable_tenant_rls(table: str, *, column: str = "tenant_id") -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} TO {app_role()} "
        f"USING ({column} = {CURRENT_TENANT}) WITH CHECK ({column} = {CURRENT_TENANT})"
    )
    op.execute(f"CREATE POLICY owner_maintenance ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")


def add_policy(table: str, name: str, using: str, command: str = "SELECT") -> None:
    """An extra permissive policy for the app role (policies are OR-ed)."""
    op.execute(f"CREATE POLICY {name} ON {table} FOR {command} TO {app_role()} USING ({using})")
