"""Web authentication: the browser's counterpart of ``identity.deps``.

- Sessions live in HttpOnly, SameSite=Lax cookies (``cb_access``, ``cb_refresh``; ``__Host-``
  prefixed and Secure when the public URL is https). An expired access cookie is renewed
  transparently from the refresh cookie (rotating it, as the API does).
- The device cookie ``cb_device`` remembers the device for device approval.
- CSRF: double submit. A random ``cb_csrf`` cookie must match the ``csrf_token`` form field (or
  the ``X-CSRF-Token`` header that ``static/js/app.js`` adds to htmx requests) on every
  state-changing request; compared in constant time.
- ``WebRoute`` turns our errors into pages: unauthenticated -> ``/login?next=``, MFA enrolment
  required -> ``/account/mfa``, denied -> 403 page, missing -> 404 page.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from carebase.core.context import actor_var, client_ip_var, tenant_var
from carebase.core.db import Database, set_context
from carebase.core.errors import CarebaseError, NotAuthenticated, NotFound, PermissionDenied, RateLimited
from carebase.core.ratelimit import RateLimiter, enforce
from carebase.core.uow import unit_of_work
from carebase.identity import account, sessions
from carebase.identity.deps import audit_denial
from carebase.identity.principal import Principal
from carebase.identity.sessions import TokenPair
from carebase.identity.tokens import AccessClaims, verify_access_token
from carebase.notifications import inbox
from carebase.settings import get_settings

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PATIENT_PATHS = ("/book", "/my/")
DEVICE_COOKIE_DAYS = 400  # the longest browsers keep a cookie
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """Raised by web dependencies when there is no live session."""


class MfaEnrolmentRequired(Exception):
    """An admin who must enrol MFA tried to reach anything else."""


class CsrfFailed(Exception):
    pass


def secure() -> bool:
    return get_settings().secure_cookies


def cookie_name(base: str) -> str:
    return f"__Host-{base}" if secure() else base


def db_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


# --- cookies ---------------------------------------------------------------------------------------


@dataclass
class CookieJar:
    """Cookie changes a request wants; ``WebRoute`` applies them to whatever response it returns."""

    to_set: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    to_delete: set[str] = field(default_factory=set)

    def apply(self, response: Response) -> None:
        for name in self.to_delete - set(self.to_set):
            response.delete_cookie(name, path="/", secure=secure(), httponly=True, samesite="lax")
        for name, (value, max_age) in self.to_set.items():
            response.set_cookie(
                name, value, max_age=max_age, path="/", secure=secure(), httponly=True, samesite="lax"
            )


def jar(request: Request) -> CookieJar:
    found = getattr(request.state, "cookie_jar", None)
    if found is None:
        found = request.state.cookie_jar = CookieJar()
    return found


def set_session_cookies(request: Request, tokens: TokenPair) -> None:
    cookies = jar(request)
    refresh_age = int((tokens.refresh_expires_at - _now()).total_seconds())
    cookies.to_set[cookie_name("cb_access")] = (tokens.access_token, tokens.expires_in)
    cookies.to_set[cookie_name("cb_refresh")] = (tokens.refresh_token, max(refresh_age, 60))


def clear_session_cookies(request: Request) -> None:
    cookies = jar(request)
    cookies.to_delete |= {cookie_name("cb_access"), cookie_name("cb_refresh")}


def set_device_cookie(request: Request, device_token: str | None) -> None:
    if device_token:
        jar(request).to_set[cookie_name("cb_device")] = (device_token, DEVICE_COOKIE_DAYS * 86400)


def device_cookie(request: Request) -> str | None:
    value = request.cookies.get(cookie_name("cb_device"))
    return value if value and 16 <= len(value) <= 128 else None


def set_short_cookie(request: Request, base: str, value: str, seconds: int) -> None:
    jar(request).to_set[cookie_name(base)] = (value, seconds)


def clear_cookie(request: Request, base: str) -> None:
    jar(request).to_delete.add(cookie_name(base))


def _now():  # type: ignore[no-untyped-def]
    from carebase.core.clock import utcnow

    return utcnow()


# --- CSRF ------------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The token for this browser (made and set as a cookie on first use)."""
    token = getattr(request.state, "csrf", None)
    if token:
        return str(token)
    token = request.cookies.get(cookie_name("cb_csrf"))
    if not token or len(token) < 32:
        token = secrets.token_urlsafe(32)
        # Not HttpOnly-sensitive: it is public in the page anyway; HttpOnly still set for hygiene.
        jar(request).to_set[cookie_name("cb_csrf")] = (token, None)
    request.state.csrf = token
    return token


async def check_csrf(request: Request) -> None:
    if request.method not in UNSAFE_METHODS:
        return
    expected = request.cookies.get(cookie_name("cb_csrf")) or ""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else ""
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfFailed


# --- principal -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebCtx:
    """What an authenticated page gets: the principal, and units of work in its tenant."""

    principal: Principal
    request: Request

    @asynccontextmanager
    async def uow(self) -> AsyncIterator[AsyncSession]:
        p = self.principal
        async with unit_of_work(
            db_of(self.request), tenant_id=p.tenant_id, user_id=p.user_id, platform_admin=p.is_platform_admin
        ) as session:
            yield session


async def _claims(request: Request) -> AccessClaims:
    access = request.cookies.get(cookie_name("cb_access"))
    if access:
        try:
            return verify_access_token(access)
        except NotAuthenticated:
            pass
    refresh_token = request.cookies.get(cookie_name("cb_refresh"))
    if not refresh_token or len(refresh_token) > 200:
        raise LoginRequired
    try:
        await enforce(
            limiter_of(request), f"refresh:ip:{client_ip_var.get()}", get_settings().rate_limits.refresh_per_ip
        )
        async with unit_of_work(db_of(request)) as session:
            tokens = await sessions.refresh(session, refresh_token)
    except (NotAuthenticated, RateLimited) as exc:
        clear_session_cookies(request)
        raise LoginRequired from exc
    set_session_cookies(request, tokens)
    return verify_access_token(tokens.access_token)


async def current_principal(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    claims = await _claims(request)
    try:
        async with unit_of_work(db_of(request)) as session:
            principal = await sessions.load_principal(session, claims)
            me = await account.me(session, principal)
            # The bell's unread count, server-rendered in every full page's shell (htmx fragments have no shell).
            unread = None
            if not request.headers.get("hx-request") and not principal.mfa_pending:
                await set_context(session, tenant_id=principal.tenant_id, user_id=principal.user_id)
                unread = await inbox.unread_count(session, principal.user_id)
    except NotAuthenticated as exc:
        clear_session_cookies(request)
        raise LoginRequired from exc
    tenant_var.set(str(principal.tenant_id))
    actor_var.set(str(principal.user_id))
    request.state.principal = principal
    request.state.me = me
    request.state.org_name = me.tenant_name
    request.state.memberships = me.memberships
    request.state.unread = unread
    return principal


async def _web_ctx(request: Request) -> WebCtx:
    principal = await current_principal(request)
    if principal.mfa_pending:
        raise MfaEnrolmentRequired
    return WebCtx(principal, request)


async def _web_ctx_mfa_pending(request: Request) -> WebCtx:
    return WebCtx(await current_principal(request), request)


async def optional_principal(request: Request) -> Principal | None:
    try:
        return await current_principal(request)
    except LoginRequired:
        return None


Web = Annotated[WebCtx, Depends(_web_ctx)]
# Pages an admin may use before enrolling MFA: the enrolment itself and sign-out.
WebAllowMfaPending = Annotated[WebCtx, Depends(_web_ctx_mfa_pending)]


def web_require(permission: str) -> Callable[..., Coroutine[Any, Any, WebCtx]]:
    async def check(request: Request, ctx: Web) -> WebCtx:
        if not ctx.principal.can(permission):
            await audit_denial(db_of(request), ctx.principal, str(permission), request.url.path)
            raise PermissionDenied()
        return ctx

    return check


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site relative paths: never ``//host`` or ``/\\host`` or a scheme."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(c in value for c in "\r\n\t\\") or len(value) > 500:
        return default
    return value


def parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound() from exc


# --- the route class ------------------------------------------------------------------------------


class WebRoute(APIRoute):
    """Every web route: CSRF check first, then our exceptions become pages or redirects, and the
    cookie changes the request collected are applied to the response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            from carebase.web.templating import error_page

            try:
                await check_csrf(request)
                response = await original(request)
            except CsrfFailed:
                response = error_page(
                    request, 403, "This form has expired",
                    "For your safety the form could not be sent. Go back, reload the page and try again.",
                )  # fmt: skip
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.headers.get("hx-request"):
                    response = Response(status_code=204, headers={"HX-Redirect": "/login"})
                else:
                    # Patients' pages send them to the code sign-in, staff pages to the password one.
                    login = "/patient-login" if request.url.path.startswith(PATIENT_PATHS) else "/login"
                    response = RedirectResponse(f"{login}?next={quote(safe_next(target), safe='/')}", 303)
            except MfaEnrolmentRequired:
                response = RedirectResponse("/account/mfa", 303)
            except PermissionDenied as exc:
                response = error_page(request, 403, "Not allowed", exc.detail)
            except NotFound:
                response = error_page(request, 404, "Not found", "This page does not exist or was removed.")
            except RateLimited as exc:
                response = error_page(request, 429, "Please wait", exc.detail)
                response.headers.update(exc.headers)
            except RequestValidationError:
                response = error_page(request, 400, "That address is not valid", "Some of its values are wrong.")
            except CarebaseError as exc:
                response = error_page(request, exc.status, exc.title, exc.detail)
            csrf_token(request)  # every browser gets its CSRF cookie on its first page
            jar(request).apply(response)
            response.headers.setdefault("cache-control", "no-store")
            return response

        return handler
