"""directory: keep the GIN pending lists of directory_listings small (64 kB instead of 4 MB).

A GIN index with fast update (the default) puts new entries in an unsorted pending list that every
search reads in full until VACUUM (or 4 MB of them) merges it into the index. Listings are rewritten
often (``next_free_at`` is indexed, so those updates are never HOT and add entries to every index),
and after a bulk load of 10,000 listings the public search mix took 6.7 ms a query instead of 1.2 ms
(text search alone 38 ms instead of 2.7 ms). A 64 kB limit makes the writer merge early: reads stay
as fast as with fast update off, and writes stay about as cheap as with it on (a listing update
0.11 ms, a bulk load 0.1 ms a row; with fast update off they cost 0.66 and 0.55 ms).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 01:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GIN_INDEXES = ("ix_directory_listings_search", "ix_directory_listings_name_trgm", "ix_directory_listings_specialties")


def upgrade() -> None:
    for name in GIN_INDEXES:
        op.execute(f"ALTER INDEX {name} SET (gin_pending_list_limit = 64)")
        op.execute(f"SELECT gin_clean_pending_list('{name}'::regclass)")


def downgrade() -> None:
    for name in GIN_INDEXES:
        op.execute(f"ALTER INDEX {name} RESET (gin_pending_list_limit)")
