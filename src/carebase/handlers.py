"""Imports every module that registers outbox handlers or periodic tasks, so a worker knows them all."""

from carebase.audit import linker as audit_linker
from carebase.directory import listings
from carebase.jobs import exports, scheduled  # noqa: F401  (export job, cron schedule)
from carebase.notifications import handlers as notification_handlers
from carebase.realtime import publish as realtime_publish
from carebase.scheduling import booking, listing_refresh, waitlist

__all__ = [
    "audit_linker",
    "booking", "listing_refresh", "listings", "notification_handlers", "realtime_publish", "waitlist"]
