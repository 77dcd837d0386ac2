"""The process's registry of live subscriptions: (tenant, topic) -> connections, fed by the bus.

A bus message is parsed once, turned into the client frame once, and queued on every subscribed
connection; each connection has its own bounded queue and writer task, so one slow client never
delays the others (a client that falls ``QUEUE_LIMIT`` frames behind is closed and catches up when
it reconnects)."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from typing import Any, Protocol

import orjson

log = logging.getLogger("carebase.realtime")

Key = tuple[uuid.UUID, str]


class Subscriber(Protocol):
    def deliver(self, topic: str, seq: int, frame: str) -> None: ...
    def resync(self) -> None: ...


def event_frame(message: dict[str, Any]) -> str:
    frame: dict[str, Any] = {
        "type": "event", "id": message["id"], "topic": message["topic"], "event": message["type"],
        "data": message.get("data") or {},
    }  # fmt: skip
    if message.get("truncated"):
        frame["truncated"] = True
    return orjson.dumps(frame).decode()


class Hub:
    def __init__(self) -> None:
        self._subs: dict[Key, set[Subscriber]] = defaultdict(set)
        self.delivered = 0

    def add(self, tenant_id: uuid.UUID, topic: str, sub: Subscriber) -> None:
        self._subs[(tenant_id, topic)].add(sub)

    def remove(self, tenant_id: uuid.UUID, topic: str, sub: Subscriber) -> None:
        key = (tenant_id, topic)
        subs = self._subs.get(key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[key]

    def connections(self) -> int:
        return len({s for subs in self._subs.values() for s in subs})

    def on_message(self, raw: bytes) -> None:
        try:
            message = orjson.loads(raw)
            key = (uuid.UUID(message["tenant_id"]), str(message["topic"]))
            seq = int(message["seq"])
        except (ValueError, KeyError, TypeError):
            log.warning("realtime: malformed bus message dropped")
            return
        subs = self._subs.get(key)
        if not subs:
            return
        frame = event_frame(message)
        for sub in list(subs):
            sub.deliver(key[1], seq, frame)
        self.delivered += len(subs)

    def on_gap(self) -> None:
        """The bus reconnected: messages may have been lost; every client resynchronises."""
        for sub in {s for subs in self._subs.values() for s in subs}:
            sub.resync()
