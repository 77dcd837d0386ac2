"""directory: index directory_listings on lower(city) for the case-insensitive city filter (its
statistics also keep the planner from scanning every listing with a trigram test).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 23:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_directory_listings_city ON directory_listings (lower(city))")


def downgrade() -> None:
    op.execute("DROP INDEX ix_directory_listings_city")
