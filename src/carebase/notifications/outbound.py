"""Account messages (sign-in codes, password links, invitations): queued by a command, sent only after its
transaction commits, through the real channels, each with a delivery record.

They must arrive within seconds, so they do not wait for the worker: after the commit a task picks the channel
for the destination (email, else WhatsApp or SMS for a phone number), records a ``notifications`` row (without
the body: codes and links are secrets and are not stored), sends with a few quick retries and records the
outcome. Nothing of this runs on the request path, so a known and an unknown destination answer alike. A code
that still fails is marked ``failed``; the person asks for a new one (a code lives 10 minutes, the worker's
backoff would outlive it)."""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carebase.core.clock import utcnow
from carebase.core.db import Database
from carebase.core.uow import after_commit
from carebase.notifications.channels import ConsoleChannel, DeliveryError, Dispatcher, Message, is_phone
from carebase.notifications.models import Notification
from carebase.settings import get_settings
from carebase.tenancy.models import PLATFORM_TENANT_ID

log = logging.getLogger("carebase.notifications")

RETRY_DELAYS = (0.5, 2.0)  # seconds between the quick attempts


class Outbound:
    """One app's account-message state: its owner sessions (delivery records), its dispatcher and the tasks
    still sending. Everything here is bound to the event loop of the app that made it, so each app keeps its
    own (``app.state.outbound``) and ``install``s it for its loop: two apps in two loops of one process (the
    browser tests' live server) never share a connection, a future or a task."""

    def __init__(self, db: Database | None = None, dispatcher: Dispatcher | None = None) -> None:
        self.sessions: async_sessionmaker[AsyncSession] | None = (
            async_sessionmaker(db.owner_engine, expire_on_commit=False) if db else None
        )
        self.dispatcher = dispatcher
        self.pending: set[asyncio.Task[None]] = set()

    def send_later(self, messages: list[Message]) -> None:
        if not messages:
            return

        async def _send() -> None:
            for message in messages:
                try:
                    await self.deliver_now(message)
                except Exception:
                    log.exception("account message delivery crashed", extra={"category": message.category})

        task = asyncio.get_running_loop().create_task(_send())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def deliver_now(self, message: Message) -> str:
        return await _deliver(self.sessions, message)

    async def drain(self) -> None:
        """Wait for messages already handed over (shutdown, tests)."""
        while self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)


# The installed states of each running loop (the latest wins; a loop that ends takes its entries with it).
_installed: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Outbound]] = weakref.WeakKeyDictionary()


def install(state: Outbound) -> None:
    """Make ``state`` the one used by ``queue`` on the running loop (an app's lifespan)."""
    _installed.setdefault(asyncio.get_running_loop(), []).append(state)


def uninstall(state: Outbound) -> None:
    stack = _installed.get(asyncio.get_running_loop(), [])
    if state in stack:
        stack.remove(state)


def current() -> Outbound:
    """The running loop's state; a loop without an app gets one without delivery records (scripts)."""
    loop = asyncio.get_running_loop()
    stack = _installed.get(loop)
    if not stack:
        stack = _installed[loop] = [Outbound()]
    return stack[-1]


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Kept for callers of the first version: sets the running loop's dispatcher."""
    current().dispatcher = dispatcher


def set_database(db: Database | None) -> None:
    """Kept for callers of the first version: delivery records for the running loop's state."""
    current().sessions = async_sessionmaker(db.owner_engine, expire_on_commit=False) if db else None


def queue(session: AsyncSession, message: Message) -> None:
    """Send ``message`` after ``session`` commits, with the state of the loop that runs the request."""
    messages = session.info.get("outbound")
    if messages is None:
        messages = session.info["outbound"] = []
        state = current()
        after_commit(session, lambda: state.send_later(session.info.pop("outbound", [])))
    messages.append(message)


async def _tenant_of(session: AsyncSession, user_id: uuid.UUID | None) -> uuid.UUID:
    from carebase.identity.models import Membership

    if user_id is None:
        return PLATFORM_TENANT_ID
    tenant = await session.scalar(
        select(Membership.tenant_id).where(Membership.user_id == user_id, Membership.status.in_(("active", "invited")))
        .order_by(Membership.created_at).limit(1)
    )  # fmt: skip
    return tenant or PLATFORM_TENANT_ID


async def deliver_now(message: Message) -> str:
    """Send one account message now, with quick retries; returns the final status."""
    return await current().deliver_now(message)


async def _deliver(sessions: async_sessionmaker[AsyncSession] | None, message: Message) -> str:
    from carebase.notifications.service import channels

    settings = get_settings()
    if "console" in settings.otp_channels and not settings.is_production:
        await ConsoleChannel().send(message)
    name = "email" if "@" in message.to else channels().for_phone() if is_phone(message.to) else None
    channel = channels().get(name) if name else None
    if name == "email" and "email" not in settings.otp_channels:
        channel = None
    record: Notification | None = None
    if sessions is not None and name is not None:
        async with sessions() as s, s.begin():
            record = Notification(
                tenant_id=message.tenant_id or await _tenant_of(s, message.user_id), user_id=message.user_id,
                channel=name, category="security", template=message.template, destination=message.to,
                subject=None, body=None, status="queued", next_attempt_at=None,
            )  # fmt: skip
            s.add(record)
    if channel is None:
        return await _finish(sessions, record, "failed", None, f"{name or 'no channel'} is not configured", 0)
    error = ""
    for attempt, delay in enumerate((0.0, *RETRY_DELAYS), start=1):
        if delay:
            await asyncio.sleep(delay)
        try:
            provider_id = await channel.send(message)
        except DeliveryError as exc:
            error = exc.reason
            if exc.permanent:
                return await _finish(sessions, record, "failed", None, error, attempt)
            continue
        return await _finish(sessions, record, "sent", provider_id, None, attempt)
    log.warning("account message not delivered", extra={"channel": name, "template": message.template})
    return await _finish(sessions, record, "failed", None, error, len(RETRY_DELAYS) + 1)


async def _finish(sessions: async_sessionmaker[AsyncSession] | None, record: Notification | None, status: str,
                  provider_id: str | None, error: str | None, attempts: int) -> str:  # fmt: skip
    if record is not None and sessions is not None:
        async with sessions() as s, s.begin():
            row = await s.get_one(Notification, record.id)
            row.status, row.provider_id, row.error, row.attempts = status, provider_id, error, attempts
            if status == "sent":
                row.sent_at = utcnow()
    return status


async def drain() -> None:
    """Wait for the running loop's messages already handed over (shutdown, tests)."""
    await current().drain()
