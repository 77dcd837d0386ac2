"""Principals of live sessions, kept in process for the hottest reads (availability).

``load_principal`` asks the database on every request whether the session, membership, user and
organisation are still live. A hot read may instead reuse what it was told within the last
``TTL`` seconds, because every change that could end or alter a principal (a session revoked or
expired early, a role or membership changed, a user disabled, an organisation suspended) is
announced on commit (``core.invalidation``) and drops the cached principals of that user or tenant
at once, in this process and in every other. The TTL only bounds the damage of a missed
announcement; while the listener is disconnected nothing is served from here.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict

from carebase.core import invalidation
from carebase.identity.models import AuthSession, Membership, User
from carebase.identity.principal import Principal
from carebase.identity.tokens import AccessClaims
from carebase.tenancy.models import Organization

TTL = 30.0


class PrincipalCache:
    def __init__(self, source: invalidation.Invalidation, max_entries: int = 20_000) -> None:
        self._source = source
        self._max = max_entries
        self._data: OrderedDict[uuid.UUID, tuple[Principal, float]] = OrderedDict()
        # Bumped by every invalidation: a principal read before a change is not stored after it.
        self.generation = 0
        source.attach(self)

    def get(self, claims: AccessClaims) -> Principal | None:
        if not self._source.live:
            return None
        item = self._data.get(claims.session_id)
        if item is None:
            return None
        principal, expires = item
        if expires <= time.monotonic():
            del self._data[claims.session_id]
            return None
        if (principal.user_id, principal.tenant_id, principal.role) != (claims.user_id, claims.tenant_id, claims.role):
            return None
        return principal

    def put(self, principal: Principal, generation: int) -> None:
        """Keep ``principal`` if nothing was invalidated since ``generation`` was read."""
        if generation != self.generation or not self._source.live:
            return
        self._data[principal.session_id] = (principal, time.monotonic() + TTL)
        self._data.move_to_end(principal.session_id)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def invalidate(self, kind: str, ids: tuple[str, ...]) -> None:
        if kind not in ("u", "o") or not ids:
            return
        self.generation += 1
        target = uuid.UUID(ids[0])
        field = "user_id" if kind == "u" else "tenant_id"
        for sid in [sid for sid, (p, _) in self._data.items() if getattr(p, field) == target]:
            del self._data[sid]

    def clear(self) -> None:
        self.generation += 1
        self._data.clear()


invalidation.track_orm_changes(AuthSession, lambda s: [("u", str(s.user_id))])
invalidation.track_orm_changes(Membership, lambda m: [("u", str(m.user_id))])
invalidation.track_orm_changes(User, lambda u: [("u", str(u.id))])
invalidation.track_orm_changes(Organization, lambda o: [("o", str(o.id))])
