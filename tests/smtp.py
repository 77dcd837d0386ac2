"""A real SMTP server (aiosmtpd) that keeps what it receives, for tests of email delivery."""

from __future__ import annotations

import asyncio
import email
import re
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    async def wait_for(self, address: str, *, after: int = 0, timeout: float = 5.0) -> Message:
        """The next message to ``address`` beyond the first ``after`` ones."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            found = self.to(address)
            if len(found) > after:
                return found[after]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no email to {address} within {timeout}s")

    @staticmethod
    def text(message: Message) -> str:
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                return part.get_payload(decode=True).decode()
        return ""

    @staticmethod
    def code(message: Message) -> str:
        match = re.search(r"\b(\d{6})\b", Mailbox.text(message))
        assert match, "no 6-digit code in the message"
        return match.group(1)

    @staticmethod
    def link_token(message: Message) -> str:
        match = re.search(r"token=([A-Za-z0-9_-]+)", Mailbox.text(message))
        assert match, "no link with a token in the message"
        return match.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_smtp() -> tuple[Mailbox, Controller]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    return box, controller
