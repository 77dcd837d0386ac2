"""Small cryptographic helpers built on the platform secret key (never logged)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from carebase.settings import get_settings


def _key(purpose: str) -> bytes:
    secret = get_settings().secret_key
    assert secret is not None
    return hashlib.sha256(f"carebase:{purpose}:".encode() + secret.get_secret_value().encode()).digest()


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 of a value (codes, destinations, device ids) so the raw value is never stored."""
    return hmac.new(_key(purpose), value.encode(), hashlib.sha256).hexdigest()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def numeric_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def encrypt(purpose: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_key(purpose)).encrypt(nonce, plaintext, purpose.encode())


def decrypt(purpose: str, blob: bytes) -> bytes:
    return AESGCM(_key(purpose)).decrypt(blob[:12], blob[12:], purpose.encode())


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
