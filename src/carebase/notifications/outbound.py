"""Messages queued by a command and sent only after its transaction commits.

A service calls ``queue(session, message)``; the unit of work hands the queue to the dispatcher
after a successful commit, off the request path. (The outbox worker takes this over, with retries,
in the notifications issue.)"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.uow import after_commit
from carebase.notifications.channels import Dispatcher, Message

log = logging.getLogger("carebase.notifications")

_dispatcher: Dispatcher | None = None
_pending: set[asyncio.Task[None]] = set()


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    global _dispatcher
    _dispatcher = dispatcher


def queue(session: AsyncSession, message: Message) -> None:
    messages = session.info.get("outbound")
    if messages is None:
        messages = session.info["outbound"] = []
        after_commit(session, lambda: _send_later(session.info.pop("outbound", [])))
    messages.append(message)


def _send_later(messages: list[Message]) -> None:
    if not messages or _dispatcher is None:
        return
    dispatcher = _dispatcher

    async def _send() -> None:
        for message in messages:
            await dispatcher.send(message)

    task = asyncio.get_running_loop().create_task(_send())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def drain() -> None:
    """Wait for messages already handed over (shutdown, tests)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)
