"""Access tokens: short-lived JWTs signed with Ed25519 (``EdDSA``), pinned algorithm, issuer,
audience and ``kid`` so keys can rotate. Refresh tokens are opaque random strings stored hashed
(see ``identity.sessions``), so one can never pass for an access token.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carebase.core.clock import utcnow
from carebase.core.errors import NotAuthenticated
from carebase.identity.roles import Role
from carebase.settings import get_settings

ALGORITHM = "EdDSA"
TOKEN_TYPE = "access"  # noqa: S105 (a claim value, not a secret)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    membership_id: uuid.UUID
    session_id: uuid.UUID
    role: Role


@cache
def _private_key() -> Ed25519PrivateKey:
    pem = get_settings().auth.jwt_private_key
    assert pem is not None
    key = serialization.load_pem_private_key(pem.get_secret_value().encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("CAREBASE_AUTH__JWT_PRIVATE_KEY must be an Ed25519 private key (PEM)")
    return key


@cache
def _public_keys() -> dict[str, Ed25519PublicKey]:
    auth = get_settings().auth
    keys: dict[str, Ed25519PublicKey] = {auth.jwt_kid: _private_key().public_key()}
    for kid, pem in auth.jwt_previous_public_keys.items():
        key = serialization.load_pem_public_key(pem.encode())
        if isinstance(key, Ed25519PublicKey):
            keys[kid] = key
    return keys


def reset_key_cache() -> None:
    _private_key.cache_clear()
    _public_keys.cache_clear()
    _VERIFIED.clear()


def issue_access_token(claims: AccessClaims) -> tuple[str, int]:
    auth = get_settings().auth
    now = utcnow()
    ttl = timedelta(minutes=auth.access_token_minutes)
    payload: dict[str, Any] = {
        "iss": auth.issuer,
        "aud": auth.audience,
        "sub": str(claims.user_id),
        "tid": str(claims.tenant_id),
        "mid": str(claims.membership_id),
        "sid": str(claims.session_id),
        "role": claims.role.value,
        "typ": TOKEN_TYPE,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(payload, _private_key(), algorithm=ALGORITHM, headers={"kid": auth.jwt_kid})
    return token, int(ttl.total_seconds())


# Verified tokens, kept until they expire: a token is verified once per process, not per request.
# Bounded; an evicted token is simply verified again. Revocation is not affected: every request
# still checks the session row.
_VERIFIED: OrderedDict[str, tuple[float, AccessClaims]] = OrderedDict()
_VERIFIED_MAX = 10_000


def verify_access_token(token: str) -> AccessClaims:
    """Verify signature, algorithm, kid, issuer, audience, expiry and type; raise NotAuthenticated."""
    cached = _VERIFIED.get(token)
    if cached is not None:
        if cached[0] > time.time():
            return cached[1]
        _VERIFIED.pop(token, None)
    claims, expires = _verify(token)
    _VERIFIED[token] = (expires, claims)
    if len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return claims


def _verify(token: str) -> tuple[AccessClaims, float]:
    auth = get_settings().auth
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != ALGORITHM:
            raise NotAuthenticated("The access token is not valid.")
        key = _public_keys().get(str(header.get("kid")))
        if key is None:
            raise NotAuthenticated("The access token is not valid.")
        data = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=auth.audience,
            issuer=auth.issuer,
            options={"require": ["exp", "iat", "sub", "sid", "tid", "mid", "role", "typ"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("The access token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("The access token is not valid.") from exc
    if data.get("typ") != TOKEN_TYPE:
        raise NotAuthenticated("The access token is not valid.")
    try:
        claims = AccessClaims(
            user_id=uuid.UUID(data["sub"]),
            tenant_id=uuid.UUID(data["tid"]),
            membership_id=uuid.UUID(data["mid"]),
            session_id=uuid.UUID(data["sid"]),
            role=Role(data["role"]),
        )
        return claims, float(data["exp"])
    except (ValueError, KeyError) as exc:
        raise NotAuthenticated("The access token is not valid.") from exc


def issue_challenge(purpose: str, subject: uuid.UUID, data: dict[str, str], minutes: int = 5) -> str:
    """A short-lived signed token for a step between two requests (e.g. the MFA step of a login)."""
    auth = get_settings().auth
    now = utcnow()
    payload = {
        "iss": auth.issuer,
        "aud": f"{auth.audience}:{purpose}",
        "sub": str(subject),
        "typ": purpose,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
        **data,
    }
    return jwt.encode(payload, _private_key(), algorithm=ALGORITHM, headers={"kid": auth.jwt_kid})


def verify_challenge(purpose: str, token: str) -> dict[str, Any]:
    auth = get_settings().auth
    try:
        kid = str(jwt.get_unverified_header(token).get("kid"))
        key = _public_keys().get(kid)
        if key is None:
            raise NotAuthenticated("This step has expired. Sign in again.")
        data = jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=f"{auth.audience}:{purpose}", issuer=auth.issuer,
            options={"require": ["exp", "sub", "typ"]},
        )
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("This step has expired or is not valid. Sign in again.") from exc
    if data.get("typ") != purpose:
        raise NotAuthenticated("This step is not valid. Sign in again.")
    return data
