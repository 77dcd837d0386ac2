"""``/ws``: the live-updates WebSocket.

Authentication, in order: a bearer access token offered as the subprotocol ``bearer.<token>``
(offer ``carebase.v1`` too; it is the one echoed back), else the web session cookie (only from an
allowed Origin: the public base URL or the request's own host, against cross-site WebSocket
hijacking; a foreign Origin is refused at the handshake with 403), else a first message
``{"type": "auth", "token": "..."}`` within 10 s. Failure: an error frame, then close 4401. The
connection ends when the access token expires (error ``token-expired``, close 4401); clients
reconnect with a fresh token (the browser refreshes its cookie at ``GET /ws/session``) and their
last event id, and miss nothing.

Client messages (JSON text, at most 16 KB):
``{"type": "subscribe", "topics": [...], "last_event_id": "..."}``, ``{"type": "unsubscribe",
"topics": [...]}``, ``{"type": "ping"}``. Server frames: ``subscribed``, ``unsubscribed``, ``pong``,
``event`` (``id``, ``topic``, ``event``, ``data``), ``reset`` (the client cannot be caught up:
re-fetch the view), ``error`` (``code``, ``detail``, maybe ``topic``). A bad message gets an error
frame and the connection stays; more than 20 errors a minute close it (1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import jwt
import orjson
from fastapi import APIRouter, Request, WebSocket
from sqlalchemy import text
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect, WebSocketState

from carebase.core.db import Database
from carebase.core.errors import NotAuthenticated
from carebase.core.uow import unit_of_work
from carebase.identity.deps import audit_denial
from carebase.identity.principal import Principal
from carebase.identity.sessions import load_principal
from carebase.identity.tokens import verify_access_token
from carebase.realtime import topics as topic_rules
from carebase.realtime.hub import Hub, event_frame
from carebase.settings import get_settings
from carebase.web.auth import Web, WebRoute, cookie_name

log = logging.getLogger("carebase.realtime")

router = APIRouter(include_in_schema=False)
web_router = APIRouter(route_class=WebRoute, include_in_schema=False)

PROTOCOL = "carebase.v1"
MAX_FRAME = 16 * 1024
MAX_TOPICS = 50
MAX_ERRORS_PER_MINUTE = 20
AUTH_TIMEOUT = 10.0
QUEUE_LIMIT = 1000
CATCH_UP_LIMIT = 500

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013


class ClientError(Exception):
    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra


def error_frame(code: str, detail: str, **extra: Any) -> str:
    return orjson.dumps({"type": "error", "code": code, "detail": detail, **extra}).decode()


# --- authentication --------------------------------------------------------------------------------


def allowed_origins(websocket: WebSocket) -> set[str]:
    base = urlsplit(get_settings().public_base_url)
    origins = {f"{base.scheme}://{base.netloc}".lower()}
    host = websocket.headers.get("host")
    if host:
        scheme = "https" if websocket.url.scheme == "wss" else "http"
        origins.add(f"{scheme}://{host}".lower())
    return origins


def _bearer_from_protocols(websocket: WebSocket) -> str | None:
    for proto in websocket.scope.get("subprotocols") or []:
        if proto.startswith("bearer."):
            return str(proto[len("bearer.") :])
    return None


def _expiry(token: str) -> float:
    try:
        return float(jwt.decode(token, options={"verify_signature": False})["exp"])
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return time.time()


async def _principal(db: Database, token: str) -> tuple[Principal, float]:
    claims = verify_access_token(token)
    async with unit_of_work(db) as session:
        principal = await load_principal(session, claims)
    if principal.mfa_pending:
        raise NotAuthenticated("Finish setting up two-step sign-in first.")
    return principal, _expiry(token)


# --- one connection --------------------------------------------------------------------------------


class Connection:
    def __init__(self, websocket: WebSocket, principal: Principal, expires_at: float, hub: Hub, db: Database) -> None:
        self.ws, self.principal, self.expires_at, self.hub, self.db = websocket, principal, expires_at, hub, db
        self.queue: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue(QUEUE_LIMIT)
        self.topics: set[str] = set()
        self.last_seq: dict[str, int] = {}
        # Topics catching up: live frames wait here until the missed ones are queued.
        self.holding: dict[str, list[tuple[int, str]]] = {}
        self.errors: deque[float] = deque()
        self.closing = False

    # Called by the hub, synchronously, for every bus message on one of our topics.
    def deliver(self, topic: str, seq: int, frame: str) -> None:
        held = self.holding.get(topic)
        if held is not None:
            held.append((seq, frame))
            return
        if seq <= self.last_seq.get(topic, 0):
            return  # already sent (catch-up overlap, or a retried publish)
        self.last_seq[topic] = seq
        self.send(frame)

    def resync(self) -> None:
        self.send(orjson.dumps({"type": "reset", "topics": sorted(self.topics), "reason": "bus-gap"}).decode())

    def send(self, frame: str) -> None:
        if self.closing:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("realtime: a client fell too far behind; closing it")
            self.close(CLOSE_TRY_AGAIN, "too-slow")

    def close(self, code: int, reason: str = "") -> None:
        if self.closing:
            return
        self.closing = True  # nothing is queued after the close
        try:
            self.queue.put_nowait((code, reason))
        except asyncio.QueueFull:  # a client too slow to read: drop what it has not read
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait((code, reason))

    async def writer(self) -> None:
        while True:
            item = await self.queue.get()
            if isinstance(item, tuple):
                with contextlib.suppress(Exception):
                    await self.ws.close(item[0], item[1])
                return
            await self.ws.send_text(item)

    def count_error(self) -> None:
        now = time.monotonic()
        self.errors.append(now)
        while self.errors and self.errors[0] < now - 60:
            self.errors.popleft()
        if len(self.errors) > MAX_ERRORS_PER_MINUTE:
            self.send(error_frame("too-many-errors", "Too many bad messages; closing."))
            self.close(CLOSE_POLICY, "too-many-errors")

    def drop_all(self) -> None:
        for topic in self.topics:
            self.hub.remove(self.principal.tenant_id, topic, self)
        self.topics.clear()

    # --- messages -----------------------------------------------------------------------------------

    async def handle(self, raw: str) -> None:
        if len(raw) > MAX_FRAME:
            raise ClientError("too-large", f"Messages are limited to {MAX_FRAME} bytes.")
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ClientError("malformed", "Messages are JSON objects with a type.") from exc
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ClientError("malformed", "Messages are JSON objects with a type.")
        kind = message["type"]
        if kind == "ping":
            self.send('{"type":"pong"}')
        elif kind == "subscribe":
            await self.subscribe(message)
        elif kind == "unsubscribe":
            self.unsubscribe(message)
        elif kind == "auth":
            raise ClientError("already-authenticated", "This connection is already signed in.")
        else:
            raise ClientError("unknown-type", "Known types: subscribe, unsubscribe, ping.")

    @staticmethod
    def _topics(message: dict[str, Any]) -> list[str]:
        wanted = message.get("topics")
        if not isinstance(wanted, list) or not wanted or len(wanted) > MAX_TOPICS:
            raise ClientError("malformed", f"topics is a list of 1 to {MAX_TOPICS} topic names.")
        return list(dict.fromkeys(wanted))

    async def subscribe(self, message: dict[str, Any]) -> None:
        wanted = self._topics(message)
        last = message.get("last_event_id")
        last_id: uuid.UUID | None = None
        if last is not None:
            try:
                last_id = uuid.UUID(str(last))
            except ValueError as exc:
                raise ClientError("malformed", "last_event_id is an event id.") from exc
        p = self.principal
        accepted: list[str] = []
        denied: list[str] = []
        async with unit_of_work(self.db, tenant_id=p.tenant_id, user_id=p.user_id) as session:
            for topic in wanted:
                parsed = topic_rules.parse(topic)
                if parsed is None:
                    self.send(error_frame("bad-topic", "Topics are board:<id>, doctor:<id> or user:<id>.",
                                          topic=str(topic)[:120]))  # fmt: skip
                    self.count_error()
                    continue
                if not await topic_rules.allowed(session, p, *parsed):
                    denied.append(topic)
                    continue
                accepted.append(topic)
            if len(self.topics | set(accepted)) > MAX_TOPICS:
                raise ClientError("too-many-topics", f"At most {MAX_TOPICS} topics per connection.")
            fresh = [t for t in accepted if t not in self.topics]
            for topic in fresh:
                self.holding[topic] = []
                self.topics.add(topic)
                self.hub.add(p.tenant_id, topic, self)
            try:
                missed, reset = await self._missed(session, accepted, last_id) if last_id else ([], False)
            except BaseException:
                for topic in fresh:
                    self.holding.pop(topic, None)
                raise
        for topic in denied:
            self.send(error_frame("forbidden", "You may not follow this topic.", topic=topic))
            self.count_error()
            await audit_denial(self.db, p, "realtime.subscribe", f"/ws {topic}")
        if accepted:
            self.send(orjson.dumps({"type": "subscribed", "topics": accepted}).decode())
        if reset:
            self.send(orjson.dumps({"type": "reset", "topics": accepted, "reason": "catch-up-unavailable"}).decode())
        for row in missed:
            topic, seq = row["topic"], row["seq"]
            if seq > self.last_seq.get(topic, 0):
                self.last_seq[topic] = seq
                self.send(event_frame(row))
        for topic in accepted:
            for seq, frame in sorted(self.holding.pop(topic, []), key=lambda item: item[0]):
                self.deliver(topic, seq, frame)

    async def _missed(self, session: Any, wanted: list[str], last_id: uuid.UUID) -> tuple[list[dict[str, Any]], bool]:
        if not wanted:
            return [], False
        since = (await session.execute(
            text("SELECT seq FROM realtime_events WHERE id = :id"), {"id": last_id}
        )).scalar_one_or_none()  # fmt: skip
        if since is None:
            return [], True  # expired from the log, or never ours: the client re-fetches its view
        rows = (await session.execute(
            text("SELECT id, seq, topic, type, data FROM realtime_events"
                 " WHERE tenant_id = :tenant AND topic = ANY(:topics) AND seq > :since ORDER BY seq LIMIT :limit"),
            {"tenant": self.principal.tenant_id, "topics": wanted, "since": since, "limit": CATCH_UP_LIMIT + 1},
        )).mappings().all()  # fmt: skip
        if len(rows) > CATCH_UP_LIMIT:
            return [], True
        return [dict(r, id=str(r["id"])) for r in rows], False

    def unsubscribe(self, message: dict[str, Any]) -> None:
        gone = [t for t in self._topics(message) if t in self.topics]
        for topic in gone:
            self.topics.discard(topic)
            self.holding.pop(topic, None)
            self.last_seq.pop(topic, None)
            self.hub.remove(self.principal.tenant_id, topic, self)
        self.send(orjson.dumps({"type": "unsubscribed", "topics": gone}).decode())

    async def reader(self) -> None:
        while not self.closing:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            try:
                if raw is None:
                    raise ClientError("binary-not-supported", "Send JSON text frames.")
                await self.handle(raw)
            except ClientError as exc:
                self.send(error_frame(exc.code, exc.detail, **exc.extra))
                self.count_error()

    async def run(self) -> None:
        writer = asyncio.create_task(self.writer())
        loop = asyncio.get_running_loop()
        expiry = loop.call_later(max(self.expires_at - time.time(), 0), self._expired)
        reader = asyncio.create_task(self.reader())
        try:
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            expiry.cancel()
            self.drop_all()
            reader.cancel()
            if not writer.done():
                # Let a queued close frame (abuse, expiry) go out, then stop.
                with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                    await asyncio.wait_for(writer, timeout=2 if self.closing else 0.01)
            for task in (reader, writer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                    await task

    def _expired(self) -> None:
        self.send(error_frame("token-expired", "Your sign-in has expired; reconnect with a fresh token."))
        self.close(CLOSE_UNAUTHENTICATED, "token-expired")


# --- the endpoint ----------------------------------------------------------------------------------


async def _reject(websocket: WebSocket, code: str, detail: str, close: int = CLOSE_UNAUTHENTICATED) -> None:
    with contextlib.suppress(Exception):
        await websocket.send_text(error_frame(code, detail))
        await websocket.close(close, code)


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    app = websocket.app
    hub: Hub | None = getattr(app.state, "realtime_hub", None)
    db: Database = app.state.db
    offered = websocket.scope.get("subprotocols") or []
    subprotocol = PROTOCOL if PROTOCOL in offered else None
    token = _bearer_from_protocols(websocket)
    if token is None:
        cookie = websocket.cookies.get(cookie_name("cb_access"))
        if cookie:
            origin = (websocket.headers.get("origin") or "").lower()
            if origin not in allowed_origins(websocket):
                await websocket.close(CLOSE_FORBIDDEN)  # before accept: the handshake gets a 403
                return
            token = cookie
    await websocket.accept(subprotocol=subprotocol)
    if hub is None:
        await _reject(websocket, "unavailable", "Live updates are not running.", CLOSE_TRY_AGAIN)
        return
    if token is None:
        try:
            first = await asyncio.wait_for(websocket.receive_text(), timeout=AUTH_TIMEOUT)
            message = orjson.loads(first) if len(first) <= MAX_FRAME else None
        except (TimeoutError, orjson.JSONDecodeError, KeyError, RuntimeError, WebSocketDisconnect):
            message = None
        if isinstance(message, dict) and message.get("type") == "auth" and isinstance(message.get("token"), str):
            token = message["token"]
        else:
            await _reject(websocket, "unauthenticated", 'Sign in first: send {"type": "auth", "token": ...}.')
            return
    try:
        principal, expires_at = await _principal(db, token)
    except NotAuthenticated as exc:
        code = "token-expired" if "expired" in exc.detail else "unauthenticated"
        await _reject(websocket, code, exc.detail)
        return
    connection = Connection(websocket, principal, expires_at, hub, db)
    connection.send(orjson.dumps({"type": "ready", "user_id": str(principal.user_id)}).decode())
    try:
        await connection.run()
    finally:
        if websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(1000)


@web_router.get("/ws/session")
async def session_check(request: Request, ctx: Web) -> Response:
    """For ``live.js``: renews the session cookies (through the usual web authentication) before it
    reconnects after a ``token-expired`` close. 204 when signed in; otherwise the usual redirect."""
    return Response(status_code=204)
