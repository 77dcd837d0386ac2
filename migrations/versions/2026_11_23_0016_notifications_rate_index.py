"""notifications: an index for the rate limits, (tenant_id, channel, created_at). Every outgoing message counts
its tenant's and its recipient's recent messages on the channel; with only the in-app inbox index and one on
tenant_id, that count read every message the tenant ever had, so each notification cost more than the last.
The index on tenant_id alone goes: the new one leads with it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_notifications_rate", "notifications", ["tenant_id", "channel", "created_at"])
    op.drop_index("ix_notifications_tenant_id", table_name="notifications")


def downgrade() -> None:
    op.create_index("ix_notifications_tenant_id", "notifications", ["tenant_id"])
    op.drop_index("ix_notifications_rate", table_name="notifications")
