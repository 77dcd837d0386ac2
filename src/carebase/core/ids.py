"""Time-ordered UUIDs (v7): public, unguessable enough for URLs, index-friendly."""

import uuid

from uuid6 import uuid7


def new_id() -> uuid.UUID:
    return uuid.UUID(bytes=uuid7().bytes)
