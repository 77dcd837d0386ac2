"""audit: the trigger that links pending audit events into their chain fires in every replication
role. A session running with ``session_replication_role = replica`` (bulk loads, logical
replication) would otherwise leave its events unlinked in ``audit_pending``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 01:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE audit_pending ENABLE ALWAYS TRIGGER audit_link")


def downgrade() -> None:
    op.execute("ALTER TABLE audit_pending ENABLE TRIGGER audit_link")
