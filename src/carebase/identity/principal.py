"""The authenticated principal: the only source of a tenant scope."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from carebase.identity.rbac import permissions_for
from carebase.identity.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting, in which tenant, with which role. Built by authentication only
    (``identity.auth.load_principal``) from a verified token and a live session row."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    membership_id: uuid.UUID
    session_id: uuid.UUID
    role: Role
    full_name: str = ""
    # An admin who has not yet enrolled (or not yet passed) MFA may only reach the MFA and sign-out
    # endpoints until they do.
    mfa_pending: bool = False

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_for(self.role)

    def can(self, permission: str) -> bool:
        return str(permission) in permissions_for(self.role)

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.PLATFORM_ADMIN
