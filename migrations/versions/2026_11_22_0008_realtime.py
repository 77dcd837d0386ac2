"""realtime: realtime_events, the catch-up log of live updates (a retention window of about an hour,
pruned by the worker); RLS per tenant, the app role may only read it (the worker writes as the owner).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from carebase.core import rls

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "realtime_events",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=120), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source_event_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["organizations.id"], name=op.f("fk_realtime_events_tenant_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_realtime_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_realtime_events_seq")),
    )
    op.create_index("ix_realtime_events_created_at", "realtime_events", ["created_at"], unique=False)
    op.create_index("ix_realtime_events_topic_seq", "realtime_events", ["tenant_id", "topic", "seq"], unique=False)
    op.create_index(
        "uq_realtime_events_source_topic", "realtime_events", ["source_event_id", "topic"], unique=True
    )
    rls.enable_tenant_rls("realtime_events")
    rls.grant("realtime_events", "SELECT")


def downgrade() -> None:
    op.drop_table("realtime_events")
