"""invalidation: a practitioner leaving (or joining) the marketplace listing is announced too, so the
public availability cached for them stops being served at once (``p:<tenant>:<practitioner>``). Only
inserts and deletes: the worker's frequent ``next_free_at`` updates change no availability.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 02:35:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE TRIGGER directory_listings_invalidate AFTER INSERT OR DELETE ON directory_listings "
        "FOR EACH ROW EXECUTE FUNCTION app_notify_invalidate('practitioner')"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS directory_listings_invalidate ON directory_listings")
