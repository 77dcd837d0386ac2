"""worker and jobs: per-handler delivery records, outbox indexes for lease takeover and dead letters,
the platform admin's view of dead letters, on-demand jobs (exports) with progress.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from carebase.core import rls

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Worker-internal (ids and handler names only): the owner writes it, the app role never reads it.
    op.create_table(
        "outbox_deliveries",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("handler_name", sa.String(length=200), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "handler_name", name=op.f("pk_outbox_deliveries")),
    )
    op.create_index("ix_outbox_running", "outbox", ["leased_until"], unique=False,
                    postgresql_where=sa.text("status = 'running'"))  # fmt: skip
    op.create_index("ix_outbox_dead", "outbox", ["tenant_id", "created_at"], unique=False,
                    postgresql_where=sa.text("status = 'dead'"))  # fmt: skip
    op.drop_constraint(op.f("ck_outbox_status"), "outbox", type_="check")
    op.create_check_constraint(op.f("ck_outbox_status"), "outbox", "status IN ('pending', 'running', 'done', 'dead', 'discarded')")
    # Dead letters: the platform admin sees and requeues every tenant's (hospital admins: their own,
    # through tenant_isolation).
    role = rls.app_role()
    op.execute(f"CREATE POLICY platform_read ON outbox FOR SELECT TO {role} USING (app_is_platform_admin())")
    op.execute(f"CREATE POLICY platform_update ON outbox FOR UPDATE TO {role} USING (app_is_platform_admin())")

    op.create_table(
        "jobs",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("requested_by_user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="queued", nullable=False),
        sa.Column("progress", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column("result_path", sa.String(length=300), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("kind IN ('my_appointments_export', 'appointments_export')", name=op.f("ck_jobs_kind")),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_jobs_progress")),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_jobs_status")),
        sa.ForeignKeyConstraint(["requested_by_user_id"], ["users.id"],
                                name=op.f("fk_jobs_requested_by_user_id_users")),  # fmt: skip
        sa.ForeignKeyConstraint(["tenant_id"], ["organizations.id"], name=op.f("fk_jobs_tenant_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_requester", "jobs", ["tenant_id", "requested_by_user_id", "created_at"], unique=False)
    op.create_index(op.f("ix_jobs_tenant_id"), "jobs", ["tenant_id"], unique=False)
    rls.enable_tenant_rls("jobs")
    rls.grant("jobs")


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_tenant_id"), table_name="jobs")
    op.drop_index("ix_jobs_requester", table_name="jobs")
    op.drop_table("jobs")
    op.execute("DROP POLICY platform_update ON outbox")
    op.execute("DROP POLICY platform_read ON outbox")
    op.execute("UPDATE outbox SET status = 'done' WHERE status = 'discarded'")
    op.drop_constraint(op.f("ck_outbox_status"), "outbox", type_="check")
    op.create_check_constraint(op.f("ck_outbox_status"), "outbox", "status IN ('pending', 'running', 'done', 'dead')")
    op.drop_index("ix_outbox_dead", table_name="outbox", postgresql_where=sa.text("status = 'dead'"))
    op.drop_index("ix_outbox_running", table_name="outbox", postgresql_where=sa.text("status = 'running'"))
    op.drop_table("outbox_deliveries")
