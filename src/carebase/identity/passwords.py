"""Passwords: Argon2id hashing and NIST SP 800-63B rules (length, no composition rules, blocklist)."""

from __future__ import annotations

import asyncio
import os
import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from carebase.core.errors import ValidationFailed
from carebase.settings import get_settings

MIN_LENGTH = 8
MAX_LENGTH = 128
BLOCKLIST_SIZE = 20_000


@cache
def hasher() -> PasswordHasher:
    a = get_settings().auth
    return PasswordHasher(
        time_cost=a.argon2_time_cost, memory_cost=a.argon2_memory_kib, parallelism=a.argon2_parallelism
    )


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"][:BLOCKLIST_SIZE])


# Argon2 is CPU-bound: more checks at once than cores only makes each one slower. Sign-ins queue
# here instead, so their latency stays proportional to the queue, not to the crowd.
# (A thread semaphore, taken in the worker thread: it works whichever event loop calls.)
_ARGON2_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def _hash_limited(password: str) -> str:
    with _ARGON2_SLOTS:
        return hash_password(password)


def _verify_limited(password_hash: str | None, password: str) -> bool:
    with _ARGON2_SLOTS:
        return verify_password(password_hash, password)


async def hash_password_async(password: str) -> str:
    """Hash off the event loop, at most one hash per core at a time."""
    return await asyncio.to_thread(_hash_limited, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """Verify off the event loop, at most one check per core at a time."""
    return await asyncio.to_thread(_verify_limited, password_hash, password)


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend the same time as a real check so unknown accounts are not revealed by timing.
        _burn(password)
        return False
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return hasher().hash("carebase-timing-equaliser")


def _burn(password: str) -> None:
    try:
        hasher().verify(_dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        pass


def needs_rehash(password_hash: str) -> bool:
    return hasher().check_needs_rehash(password_hash)


def check_new_password(password: str, *, field: str = "password", email: str | None = None) -> None:
    """Raise a field-level ValidationFailed if the password breaks the policy."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed.field(field, f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise ValidationFailed.field(field, f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(password)) < 3:
        raise ValidationFailed.field(field, "This password is too common. Choose a less guessable one.")
    if email and lowered in (email.lower(), email.split("@")[0].lower()):
        raise ValidationFailed.field(field, "Do not use your email address as a password.")
