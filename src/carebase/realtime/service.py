"""Starts and stops a process's live-updates machinery: the hub and its bus listener."""

from __future__ import annotations

import logging
from typing import Any

from carebase.core.db import Database
from carebase.realtime import bus as bus_module
from carebase.realtime.bus import make_bus
from carebase.realtime.hub import Hub
from carebase.settings import Settings

log = logging.getLogger("carebase.realtime")


async def start(state: Any, settings: Settings, db: Database) -> None:
    """Listen on the bus and keep the hub on ``state`` (``app.state``). LISTEN runs as the app role."""
    hub = Hub()
    listener = make_bus(settings.redis_url, db.app_url.render_as_string(hide_password=False))
    await listener.start(hub.on_message, hub.on_gap)
    state.realtime_hub, state.realtime_bus = hub, listener
    log.info("live updates ready", extra={"bus": "redis" if settings.redis_url else "postgresql"})


async def stop(state: Any) -> None:
    listener = getattr(state, "realtime_bus", None)
    if listener is not None:
        await listener.close()
    state.realtime_hub = state.realtime_bus = None
    await bus_module.close_publishers()
