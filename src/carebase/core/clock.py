"""The one place the platform asks for the time: aware UTC datetimes only."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
