"""Live updates: the ``/ws`` WebSocket, topics scoped by tenant and role, a fan-out bus (Redis
pub/sub or PostgreSQL LISTEN/NOTIFY) fed by an outbox consumer, and catch-up from a short log."""
