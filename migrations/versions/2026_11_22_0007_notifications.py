"""notifications: delivery records (one row per message, channel and recipient; the in-app inbox),
preferences, a user's quiet hours, per-tenant template overrides, web push subscriptions; RLS and grants;
app_notification_by_provider() finds a record from a provider's callback (no tenant context yet).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 23:13:47
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from carebase.core import rls

TABLES = (
    "notifications",
    "notification_preferences",
    "notification_quiet_hours",
    "notification_templates",
    "push_subscriptions",
)

# SECURITY DEFINER (runs as the owner): answers only which tenant and record a provider message id belongs
# to, for the signed status callbacks of the SMS and WhatsApp providers.
FUNCTION = """
CREATE OR REPLACE FUNCTION app_notification_by_provider(p_channel text, p_provider_id text)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT n.tenant_id, n.id FROM public.notifications n
  WHERE n.channel = p_channel AND n.provider_id = p_provider_id
$$
"""

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_notification_preferences_tenant_id_organizations")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notification_preferences_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint("tenant_id", "user_id", "channel", "category", name="uq_notification_pref"),
    )
    op.create_index(
        op.f("ix_notification_preferences_tenant_id"), "notification_preferences", ["tenant_id"], unique=False
    )
    op.create_table(
        "notification_quiet_hours",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("starts", sa.Time(), nullable=False),
        sa.Column("ends", sa.Time(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_notification_quiet_hours_tenant_id_organizations")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notification_quiet_hours_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_quiet_hours")),
        sa.UniqueConstraint("tenant_id", "user_id", name="uq_notification_quiet_user"),
    )
    op.create_index(
        op.f("ix_notification_quiet_hours_tenant_id"), "notification_quiet_hours", ["tenant_id"], unique=False
    )
    op.create_table(
        "notification_templates",
        sa.Column("event", sa.String(length=60), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("part", sa.String(length=10), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_notification_templates_tenant_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_templates")),
        sa.UniqueConstraint("tenant_id", "event", "channel", "language", "part", name="uq_notification_template"),
    )
    op.create_index(op.f("ix_notification_templates_tenant_id"), "notification_templates", ["tenant_id"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("template", sa.String(length=60), nullable=False),
        sa.Column("language", sa.String(length=8), server_default="en", nullable=False),
        sa.Column("urgent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("destination", sa.String(length=1000), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("attachment_name", sa.String(length=100), nullable=True),
        sa.Column("attachment", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=12), server_default="queued", nullable=False),
        sa.Column("suppressed_reason", sa.String(length=40), nullable=True),
        sa.Column("held_reason", sa.String(length=40), nullable=True),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("source_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'whatsapp', 'push', 'in_app')", name=op.f("ck_notifications_channel")
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'suppressed')",
            name=op.f("ck_notifications_status"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_notifications_tenant_id_organizations")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'sending')"),
    )
    op.create_index(
        "ix_notifications_inbox",
        "notifications",
        ["tenant_id", "user_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("channel = 'in_app'"),
    )
    op.create_index(
        "ix_notifications_provider",
        "notifications",
        ["channel", "provider_id"],
        unique=False,
        postgresql_where=sa.text("provider_id IS NOT NULL"),
    )
    op.create_index(op.f("ix_notifications_tenant_id"), "notifications", ["tenant_id"], unique=False)
    op.create_index(
        "uq_notifications_dedupe",
        "notifications",
        ["tenant_id", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text("dedupe_key IS NOT NULL"),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_push_subscriptions_tenant_id_organizations")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_push_subscriptions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("tenant_id", "endpoint", name="uq_push_endpoint"),
    )
    op.create_index(op.f("ix_push_subscriptions_tenant_id"), "push_subscriptions", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_push_subscriptions_user_id"), "push_subscriptions", ["user_id"], unique=False)
    for table in TABLES:
        rls.enable_tenant_rls(table)
        rls.grant(table)
    op.execute(FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION app_notification_by_provider(text, text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_notification_by_provider(text, text) TO {rls.app_role()}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS app_notification_by_provider(text, text)")
    op.drop_index(op.f("ix_push_subscriptions_user_id"), table_name="push_subscriptions")
    op.drop_index(op.f("ix_push_subscriptions_tenant_id"), table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
    op.drop_index(
        "uq_notifications_dedupe", table_name="notifications", postgresql_where=sa.text("dedupe_key IS NOT NULL")
    )
    op.drop_index(op.f("ix_notifications_tenant_id"), table_name="notifications")
    op.drop_index(
        "ix_notifications_provider", table_name="notifications", postgresql_where=sa.text("provider_id IS NOT NULL")
    )
    op.drop_index("ix_notifications_inbox", table_name="notifications", postgresql_where=sa.text("channel = 'in_app'"))
    op.drop_index(
        "ix_notifications_due", table_name="notifications", postgresql_where=sa.text("status IN ('queued', 'sending')")
    )
    op.drop_table("notifications")
    op.drop_index(op.f("ix_notification_templates_tenant_id"), table_name="notification_templates")
    op.drop_table("notification_templates")
    op.drop_index(op.f("ix_notification_quiet_hours_tenant_id"), table_name="notification_quiet_hours")
    op.drop_table("notification_quiet_hours")
    op.drop_index(op.f("ix_notification_preferences_tenant_id"), table_name="notification_preferences")
    op.drop_table("notification_preferences")
