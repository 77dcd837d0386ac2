"""indexes: appointments and audit_events lose their index on tenant_id alone. Every other index of
theirs leads with tenant_id (appointments: location day, patient; audit_events: seq, time), so it served
no query, and it cost each booking four more index entries (the hold's insert, the confirm's non-HOT
update, two audit events).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 03:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_appointments_tenant_id", table_name="appointments")
    op.drop_index("ix_audit_events_tenant_id", table_name="audit_events")


def downgrade() -> None:
    op.create_index("ix_audit_events_tenant_id", "audit_events", ["tenant_id"])
    op.create_index("ix_appointments_tenant_id", "appointments", ["tenant_id"])
