"""Notification channels behind one interface. This issue ships console (development) and email
(SMTP); SMS, WhatsApp, push and in-app arrive with the notifications issue."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from carebase.settings import Settings

log = logging.getLogger("carebase.notifications")


@dataclass(frozen=True, slots=True)
class Message:
    to: str
    subject: str
    text: str
    html: str | None = None
    category: str = "account"


class Channel(Protocol):
    name: str

    def accepts(self, destination: str) -> bool: ...
    async def send(self, message: Message) -> None: ...


class ConsoleChannel:
    """Development only: writes the message to the terminal that runs the server."""

    name = "console"

    def accepts(self, destination: str) -> bool:
        return True

    async def send(self, message: Message) -> None:
        print(f"\n[console channel] to {message.to}: {message.subject}\n{message.text}\n", file=sys.stderr)


class SmtpChannel:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.smtp = settings.smtp

    def accepts(self, destination: str) -> bool:
        return "@" in destination and bool(self.smtp.host)

    def _build(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.smtp.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        return email

    def _send_sync(self, message: Message) -> None:
        assert self.smtp.host
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_seconds) as client:
            if self.smtp.starttls:
                client.starttls()
            if self.smtp.username and self.smtp.password:
                client.login(self.smtp.username, self.smtp.password.get_secret_value())
            client.send_message(self._build(message))

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._send_sync, message)


class Dispatcher:
    """Sends a message on every configured channel that accepts the destination."""

    def __init__(self, channels: list[Channel]) -> None:
        self.channels = channels

    async def send(self, message: Message) -> None:
        for channel in self.channels:
            if not channel.accepts(message.to):
                continue
            try:
                await channel.send(message)
            except Exception:  # a channel failing must not break the others
                log.warning("channel send failed", extra={"channel": channel.name, "category": message.category})


def make_dispatcher(settings: Settings) -> Dispatcher:
    channels: list[Channel] = []
    if "console" in settings.otp_channels and not settings.is_production:
        channels.append(ConsoleChannel())
    if "email" in settings.otp_channels:
        channels.append(SmtpChannel(settings))
    return Dispatcher(channels)
