"""Settings: one pydantic-settings tree, env prefix ``CAREBASE_``, nested with ``__``.

In development every secret that is not given is generated once into ``./var/secrets.json``
(mode 0600) and reused. In production (``CAREBASE_ENV=production``) nothing is generated:
start-up refuses and names each missing secret.
"""

from __future__ import annotations

import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path(os.environ.get("CAREBASE_VAR_DIR", "var")).resolve()


class AuthSettings(BaseModel):
    access_token_minutes: int = Field(15, ge=1, le=60)
    refresh_token_days: int = Field(7, ge=1, le=7)
    issuer: str = "carebase"
    audience: str = "carebase-api"
    jwt_kid: str = "k1"
    # Ed25519 private key (PEM) that signs access tokens.
    jwt_private_key: SecretStr | None = None
    # Older public keys still accepted while tokens signed by them live: {"kid": "PEM"}.
    jwt_previous_public_keys: dict[str, str] = {}
    otp_minutes: int = Field(10, ge=1, le=30)
    otp_max_attempts: int = Field(5, ge=1, le=10)
    reset_link_minutes: int = Field(30, ge=5, le=240)
    # Argon2id cost. OWASP minimum is m=19 MiB, t=2, p=1; we default a little above it.
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1


class RateLimitSettings(BaseModel):
    login_per_account: str = "5/60"  # attempts / seconds
    login_per_ip: str = "30/60"
    otp_per_account: str = "5/600"
    otp_per_ip: str = "30/600"
    refresh_per_ip: str = "60/60"
    # Soft lockout: after this many consecutive failures an account waits 2^(n - threshold) seconds.
    lockout_threshold: int = 5
    lockout_max_seconds: int = 900


class SmtpSettings(BaseModel):
    host: str | None = None
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    sender: str = "Carebase <no-reply@carebase.local>"
    timeout_seconds: float = 10.0


class SmsSettings(BaseModel):
    """SMS over HTTP in the Twilio REST shape. No account sid: the channel is off."""

    base_url: str = "https://api.twilio.com"
    account_sid: str | None = None
    auth_token: SecretStr | None = None
    sender: str | None = None  # E.164 "From" number
    timeout_seconds: float = 10.0


class WhatsAppSettings(BaseModel):
    """WhatsApp Cloud API shape. No phone number id: the channel is off."""

    base_url: str = "https://graph.facebook.com"
    api_version: str = "21.0"
    phone_number_id: str | None = None
    access_token: SecretStr | None = None
    app_secret: SecretStr | None = None  # signs status webhooks (X-Hub-Signature-256)
    verify_token: SecretStr | None = None  # the webhook subscription handshake
    timeout_seconds: float = 10.0


class PushSettings(BaseModel):
    """Web push (VAPID). No private key: the channel is off."""

    vapid_private_key: SecretStr | None = None  # PEM, P-256
    vapid_subject: str = "mailto:admin@carebase.local"
    timeout_seconds: float = 10.0


class NotificationSettings(BaseModel):
    max_attempts: int = Field(6, ge=1, le=20)
    backoff_base_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    # Routine messages per recipient and channel, and per tenant and channel ("count/seconds").
    per_recipient: str = "20/3600"
    per_tenant_channel: str = "2000/3600"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CAREBASE_", env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    env: Literal["development", "test", "production"] = "development"
    # Owner URL: migrations run with it. Unset: an embedded PostgreSQL under ./var/pg.
    database_url: str | None = None
    # The app's own login role: owns nothing, cannot bypass row-level security.
    database_app_role: str = "carebase_app"
    database_app_password: SecretStr | None = None
    database_pool_size: int = Field(20, ge=1, le=200)
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    # Proxies whose X-Forwarded-For is believed (IP or CIDR). Empty: only the socket peer counts.
    trusted_proxies: list[str] = []
    run_worker_in_process: bool = True
    # `carebase serve` processes (one per core serves the most; each holds its own pool and caches).
    serve_workers: int = Field(1, ge=1, le=64)
    # Finished availability answers kept per serve process (0: compute every request; see avcache).
    availability_cache_entries: int = Field(2_000, ge=0, le=1_000_000)
    log_level: str = "INFO"
    max_body_bytes: int = 1_048_576
    otp_channels: list[Literal["console", "email"]] = ["console", "email"]

    auth: AuthSettings = AuthSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    smtp: SmtpSettings = SmtpSettings()
    sms: SmsSettings = SmsSettings()
    whatsapp: WhatsAppSettings = WhatsAppSettings()
    push: PushSettings = PushSettings()
    notifications: NotificationSettings = NotificationSettings()

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.public_base_url.startswith("https://")


REQUIRED_SECRETS = {
    "secret_key": "CAREBASE_SECRET_KEY",
    "database_app_password": "CAREBASE_DATABASE_APP_PASSWORD",
    "auth.jwt_private_key": "CAREBASE_AUTH__JWT_PRIVATE_KEY",
}


class MissingSecrets(RuntimeError):
    pass


def _generate_ed25519_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _local_secrets() -> dict[str, str]:
    """Development secrets, generated once and kept in ./var/secrets.json."""
    path = VAR_DIR / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    values = {
        "secret_key": secrets.token_urlsafe(48),
        "database_app_password": secrets.token_urlsafe(24),
        "jwt_private_key": _generate_ed25519_pem(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)
    return values


def _fill_secrets(settings: Settings) -> Settings:
    missing = [
        env
        for name, env in REQUIRED_SECRETS.items()
        if (settings.auth.jwt_private_key if name == "auth.jwt_private_key" else getattr(settings, name))
        is None
    ]
    if not missing:
        return settings
    if settings.is_production:
        raise MissingSecrets(
            "production mode needs real secrets; set " + ", ".join(missing) + " (nothing is generated)"
        )
    local = _local_secrets()
    if settings.secret_key is None:
        settings.secret_key = SecretStr(local["secret_key"])
    if settings.database_app_password is None:
        settings.database_app_password = SecretStr(local["database_app_password"])
    if settings.auth.jwt_private_key is None:
        settings.auth.jwt_private_key = SecretStr(local["jwt_private_key"])
    return settings


@lru_cache
def get_settings() -> Settings:
    return _fill_secrets(Settings())


def reset_settings_cache() -> None:
    get_settings.cache_clear()
