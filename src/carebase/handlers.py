"""Imports every module that registers outbox handlers, so a worker knows them all."""

from carebase.scheduling import listing_refresh

__all__ = ["listing_refresh"]
