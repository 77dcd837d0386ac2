"""One pure-ASGI middleware for what every request needs: request id, client IP (proxy headers
trusted only from configured proxies), body size cap, security headers, access log, metrics."""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carebase.core import metrics
from carebase.core.context import actor_var, client_ip_var, request_id_var, tenant_var, user_agent_var
from carebase.core.errors import problem_response

log = logging.getLogger("carebase.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
BASE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"permissions-policy", b"camera=(self), microphone=(self), geolocation=(self)"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class _TooLarge(Exception):
    pass


def route_template(scope: Scope) -> str:
    """The matched route as a template (``/api/v1/patients/{patient_id}``), for low-cardinality
    metric and log labels. Rebuilt from the path and its parameters, so it does not depend on how
    the framework nests routers; requests that matched no route are ``unmatched``."""
    path: str = scope["path"]
    if path.startswith("/static/"):
        return "/static"
    if scope.get("endpoint") is None and scope.get("route") is None:
        return "unmatched"
    params = {str(v): k for k, v in (scope.get("path_params") or {}).items() if str(v)}
    if not params:
        return path
    segments = path.split("/")
    unused = dict(params)
    for i, seg in enumerate(segments):
        if seg in params:
            segments[i] = "{" + params[seg] + "}"
            unused.pop(seg, None)
    # A parameter that is only part of a segment (``/calendar/{token}.ics``): replaced too, so no
    # value (a secret token, say) reaches a log line or a metric label.
    for value, name in unused.items():
        for i, seg in enumerate(segments):
            if value in seg and not seg.startswith("{"):
                segments[i] = seg.replace(value, "{" + name + "}")
    return "/".join(segments)


class PlatformMiddleware:
    def __init__(self, app: ASGIApp, *, trusted_proxies: list[str], max_body_bytes: int, https: bool) -> None:
        self.app = app
        self.networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.max_body = max_body_bytes
        self.https = https

    def _client_ip(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        peer = scope.get("client")
        ip = peer[0] if peer else None
        if not self.networks or ip is None:
            return ip
        chain = [ip]
        forwarded = headers.get(b"x-forwarded-for")
        if forwarded:
            chain = [p.strip() for p in forwarded.decode("latin-1").split(",")] + chain
        # Walk from the nearest hop back while the hop is a trusted proxy.
        for hop in reversed(chain):
            try:
                addr = ipaddress.ip_address(hop)
            except ValueError:
                return ip
            if not any(addr in n for n in self.networks):
                return hop
        return chain[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")
        if not _REQUEST_ID.match(rid):
            rid = secrets.token_hex(16)
        tokens = (
            request_id_var.set(rid),
            client_ip_var.set(self._client_ip(scope, headers)),
            user_agent_var.set(headers.get(b"user-agent", b"").decode("latin-1")[:300] or None),
            tenant_var.set(None),
            actor_var.set(None),
        )
        https = self.https or headers.get(b"x-forwarded-proto") == b"https" and bool(self.networks)
        status = 500
        extra = [(b"x-request-id", rid.encode())] + BASE_HEADERS + ([HSTS] if https else [])
        is_docs = scope["path"] in ("/docs", "/redoc")

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                hdrs = list(message.get("headers", []))
                hdrs.extend(extra if not is_docs else [h for h in extra if h[0] != b"content-security-policy"])
                message["headers"] = hdrs
            await send(message)

        length = headers.get(b"content-length")
        received = 0
        too_large = length is not None and length.isdigit() and int(length) > self.max_body
        response_started = False

        async def receive_wrapper() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    too_large = True
                    raise _TooLarge
            return message

        async def app_send(message: Message) -> None:
            nonlocal response_started
            # The app may catch the cut-off body as a parse error (a 400); the 413 below replaces it.
            if too_large and not response_started:
                return
            response_started = True
            await send_wrapper(message)

        try:
            if not too_large:
                try:
                    await self.app(scope, receive_wrapper, app_send)
                except _TooLarge:
                    pass
                except Exception:
                    # Answered here rather than by Starlette's outermost error middleware so that
                    # the 500 carries the request id and the security headers too.
                    if response_started:
                        raise
                    log.exception("unhandled error", extra={"route": route_template(scope)})
                    response = problem_response(
                        500, "Internal server error",
                        "Something went wrong on our side. The request id helps support find it.",
                        code="internal", instance=scope["path"],
                    )  # fmt: skip
                    await response(scope, receive, send_wrapper)
            if too_large and not response_started:
                response = problem_response(
                    413, "The request body is too large", f"Send at most {self.max_body} bytes.",
                    code="payload-too-large",
                )  # fmt: skip
                await response(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            template = route_template(scope)
            metrics.observe(scope["method"], template, status, elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={"method": scope["method"], "route": template, "status": status,
                           "latency_ms": round(elapsed * 1000, 2)},
                )  # fmt: skip
            for var, token in zip(
                (request_id_var, client_ip_var, user_agent_var, tenant_var, actor_var), tokens, strict=True
            ):
                var.reset(token)
