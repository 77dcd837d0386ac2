"""Per-request context carried in contextvars: request id, client IP, actor (for logs and audit)."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
client_ip_var: ContextVar[str | None] = ContextVar("client_ip", default=None)
user_agent_var: ContextVar[str | None] = ContextVar("user_agent", default=None)
tenant_var: ContextVar[str | None] = ContextVar("tenant", default=None)
actor_var: ContextVar[str | None] = ContextVar("actor", default=None)
