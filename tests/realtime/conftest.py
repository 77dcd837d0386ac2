"""Live-update tests run against real uvicorn servers (each in its own thread and event loop, with
its own ``create_app`` and ``Database``) and talk to them with the ``websockets`` client."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
import websockets

from carebase.settings import Settings
from tests.e2e.conftest import LiveServer


@pytest.fixture(scope="session")
def ws_server(settings: Settings, database_url: str, app) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    server = LiveServer(settings, database_url)
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def servers(settings: Settings, database_url: str, count: int) -> Iterator[list[LiveServer]]:
    started = [LiveServer(settings, database_url) for _ in range(count)]
    try:
        for server in started:
            server.start()
        yield started
    finally:
        for server in started:
            server.stop()


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


@contextlib.asynccontextmanager
async def connect(server: LiveServer, token: str | None = None, **kwargs: Any) -> AsyncIterator[Any]:
    protocols = ["carebase.v1", f"bearer.{token}"] if token else None
    async with websockets.connect(ws_url(server), subprotocols=protocols, open_timeout=10, **kwargs) as ws:
        if token:
            ready = await recv(ws)
            assert ready["type"] == "ready", ready
        yield ws


async def recv(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    return dict(orjson.loads(await asyncio.wait_for(ws.recv(), timeout)))


async def send(ws: Any, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def subscribe(ws: Any, *topics: str, last_event_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "subscribe", "topics": list(topics)}
    if last_event_id:
        message["last_event_id"] = last_event_id
    await send(ws, message)
    reply = await recv(ws)
    assert reply == {"type": "subscribed", "topics": list(topics)}, reply
    return reply


async def nothing_more(ws: Any, seconds: float = 0.4) -> None:
    with pytest.raises(TimeoutError):
        extra = await asyncio.wait_for(ws.recv(), seconds)
        pytest.fail(f"unexpected frame {extra!r}")


def fake_event(tenant_id: uuid.UUID, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "tenant_id": tenant_id, "topic": topic, "payload": payload, "attempts": 1}
