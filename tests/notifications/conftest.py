from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from carebase.notifications import service
from carebase.notifications.channels import Channels
from carebase.settings import Settings
from tests.notifications import fakes

VAPID_PEM = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


@pytest.fixture
async def provider() -> AsyncIterator[tuple[fakes.Provider, str]]:
    fake = fakes.Provider()
    base, server, task = await fakes.serve(fake)
    yield fake, base
    server.should_exit = True
    await task


def configure(settings: Settings, monkeypatch: pytest.MonkeyPatch, base: str, *, whatsapp: bool = False) -> Channels:
    """Point SMS (or WhatsApp) and push at the fakes, on the live settings (webhooks read them) and in the
    channels the service uses."""
    monkeypatch.setattr(settings.sms, "base_url", base)
    monkeypatch.setattr(settings.sms, "account_sid", fakes.SID)
    monkeypatch.setattr(settings.sms, "auth_token", SecretStr(fakes.TOKEN))
    monkeypatch.setattr(settings.sms, "sender", fakes.SENDER)
    monkeypatch.setattr(settings.whatsapp, "base_url", base)
    monkeypatch.setattr(settings.whatsapp, "app_secret", SecretStr("wa-app-secret"))
    if whatsapp:
        monkeypatch.setattr(settings.whatsapp, "phone_number_id", fakes.PHONE_ID)
        monkeypatch.setattr(settings.whatsapp, "access_token", SecretStr(fakes.WA_TOKEN))
    monkeypatch.setattr(settings.push, "vapid_private_key", SecretStr(VAPID_PEM))
    channels = Channels(settings)
    monkeypatch.setattr(service, "channels", lambda: channels)
    return channels
