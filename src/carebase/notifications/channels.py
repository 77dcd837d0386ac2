"""Notification channels behind one interface: ``accepts(destination)`` and ``send(message) -> provider id``.

Email (SMTP, text + HTML, optional attachment), SMS (Twilio REST shape), WhatsApp (Cloud API shape), web push
(VAPID, RFC 8291) and the development console. In-app messages are rows, not a channel call (see ``service``).

A send that fails raises ``DeliveryError``: ``permanent`` for what a retry cannot fix (a provider 4xx, a refused
recipient), otherwise transient (5xx, connection refused, timeout) and retried with backoff by the caller.
Credentials come from settings and never reach logs or error texts."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import sys
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import httpx

from carebase.settings import Settings

log = logging.getLogger("carebase.notifications")


@dataclass(frozen=True, slots=True)
class Message:
    to: str
    subject: str
    text: str
    html: str | None = None
    category: str = "account"
    attachment: tuple[str, str, str] | None = None  # (filename, content, mime type)
    template: str = "account"
    tenant_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    status_callback: str | None = None
    push_keys: tuple[str, str] | None = None  # (p256dh, auth) for a push endpoint


class DeliveryError(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason[:500]
        self.permanent = permanent


class Channel(Protocol):
    name: str

    def accepts(self, destination: str) -> bool: ...
    async def send(self, message: Message) -> str | None: ...


def is_phone(destination: str) -> bool:
    return destination.startswith("+") and destination[1:].isdigit()


class ConsoleChannel:
    """Development only: writes the message to the terminal that runs the server."""

    name = "console"

    def accepts(self, destination: str) -> bool:
        return True

    async def send(self, message: Message) -> str | None:
        print(f"\n[console channel] to {message.to}: {message.subject}\n{message.text}\n", file=sys.stderr)
        return None


class SmtpChannel:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.smtp = settings.smtp

    @property
    def configured(self) -> bool:
        return bool(self.smtp.host)

    def accepts(self, destination: str) -> bool:
        return "@" in destination and self.configured

    def _build(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.smtp.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = f"<{uuid.uuid4()}@carebase>"
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        if message.attachment:
            filename, content, mime = message.attachment
            maintype, _, subtype = mime.partition("/")
            email.add_attachment(content.encode(), maintype=maintype, subtype=subtype, filename=filename)
        return email

    def _send_sync(self, message: Message) -> str:
        assert self.smtp.host
        email = self._build(message)
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_seconds) as client:
                if self.smtp.starttls:
                    client.starttls()
                if self.smtp.username and self.smtp.password:
                    client.login(self.smtp.username, self.smtp.password.get_secret_value())
                client.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError("recipient refused", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", permanent=exc.smtp_code >= 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP unavailable: {type(exc).__name__}", permanent=False) from exc
        return str(email["Message-ID"])

    async def send(self, message: Message) -> str | None:
        return await asyncio.to_thread(self._send_sync, message)


def _http_error(provider: str, response: httpx.Response) -> DeliveryError:
    detail = ""
    try:
        body = response.json()
        detail = str(body.get("message") or (body.get("error") or {}).get("message") or "")[:200]
    except ValueError:
        pass
    return DeliveryError(f"{provider} {response.status_code} {detail}".strip(), permanent=response.status_code < 500)


class SmsChannel:
    """Twilio REST shape: POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded, basic auth."""

    name = "sms"

    def __init__(self, settings: Settings) -> None:
        self.cfg = settings.sms

    @property
    def configured(self) -> bool:
        return bool(self.cfg.account_sid and self.cfg.auth_token and self.cfg.sender)

    def accepts(self, destination: str) -> bool:
        return is_phone(destination) and self.configured

    async def send(self, message: Message) -> str | None:
        assert self.cfg.account_sid and self.cfg.auth_token and self.cfg.sender
        url = f"{self.cfg.base_url.rstrip('/')}/2010-04-01/Accounts/{self.cfg.account_sid}/Messages.json"
        form = {"To": message.to, "From": self.cfg.sender, "Body": message.text}
        if message.status_callback:
            form["StatusCallback"] = message.status_callback
        try:
            async with httpx.AsyncClient(timeout=self.cfg.timeout_seconds) as client:
                response = await client.post(
                    url, data=form, auth=(self.cfg.account_sid, self.cfg.auth_token.get_secret_value())
                )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"sms unavailable: {type(exc).__name__}", permanent=False) from exc
        if response.status_code >= 300:
            raise _http_error("sms", response)
        return str(response.json().get("sid") or "") or None


class WhatsAppChannel:
    """WhatsApp Cloud API shape: POST {base}/v{ver}/{phone_number_id}/messages, JSON, bearer token."""

    name = "whatsapp"

    def __init__(self, settings: Settings) -> None:
        self.cfg = settings.whatsapp

    @property
    def configured(self) -> bool:
        return bool(self.cfg.phone_number_id and self.cfg.access_token)

    def accepts(self, destination: str) -> bool:
        return is_phone(destination) and self.configured

    async def send(self, message: Message) -> str | None:
        assert self.cfg.phone_number_id and self.cfg.access_token
        url = f"{self.cfg.base_url.rstrip('/')}/v{self.cfg.api_version}/{self.cfg.phone_number_id}/messages"
        body = {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": message.to.lstrip("+"),
            "type": "text", "text": {"preview_url": False, "body": message.text},
        }  # fmt: skip
        headers = {"Authorization": f"Bearer {self.cfg.access_token.get_secret_value()}"}
        try:
            async with httpx.AsyncClient(timeout=self.cfg.timeout_seconds) as client:
                response = await client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"whatsapp unavailable: {type(exc).__name__}", permanent=False) from exc
        if response.status_code >= 300:
            raise _http_error("whatsapp", response)
        messages = response.json().get("messages") or [{}]
        return str(messages[0].get("id") or "") or None


class PushChannel:
    """Web push with VAPID and aes128gcm payload encryption (see ``webpush``)."""

    name = "push"

    def __init__(self, settings: Settings) -> None:
        self.cfg = settings.push

    @property
    def configured(self) -> bool:
        return bool(self.cfg.vapid_private_key)

    def accepts(self, destination: str) -> bool:
        return destination.startswith(("https://", "http://")) and self.configured

    async def send(self, message: Message) -> str | None:
        from carebase.notifications import webpush

        assert self.cfg.vapid_private_key and message.push_keys
        payload = webpush.payload(message.subject, message.text)
        body = webpush.encrypt(payload, *message.push_keys)
        headers = webpush.vapid_headers(message.to, self.cfg.vapid_private_key.get_secret_value(),
                                        self.cfg.vapid_subject) | {"Content-Encoding": "aes128gcm", "TTL": "86400"}
        try:
            async with httpx.AsyncClient(timeout=self.cfg.timeout_seconds) as client:
                response = await client.post(message.to, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"push unavailable: {type(exc).__name__}", permanent=False) from exc
        if response.status_code >= 300:
            raise DeliveryError(f"push {response.status_code}", permanent=response.status_code < 500)
        return response.headers.get("Location")


class Channels:
    """The configured channels of this process, by name."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.email = SmtpChannel(settings)
        self.sms = SmsChannel(settings)
        self.whatsapp = WhatsAppChannel(settings)
        self.push = PushChannel(settings)
        self.console = ConsoleChannel()

    def get(self, name: str) -> Channel | None:
        channel = {"email": self.email, "sms": self.sms, "whatsapp": self.whatsapp, "push": self.push}.get(name)
        return channel if channel is not None and channel.configured else None

    def for_phone(self) -> str | None:
        """WhatsApp when configured, else SMS."""
        if self.whatsapp.configured:
            return "whatsapp"
        if self.sms.configured:
            return "sms"
        return None


class Dispatcher:
    """Sends a message on every configured channel that accepts the destination (kept for callers that do
    not record deliveries; account messages go through ``outbound``, which does)."""

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
