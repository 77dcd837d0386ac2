"""Role-based access control: every context's permissions, collected; default deny.

``docs/permissions.md`` is generated from here (``carebase permissions-doc``) and a test keeps it current.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from types import ModuleType

from carebase.audit import permissions as audit_permissions
from carebase.directory import permissions as directory_permissions
from carebase.identity import permissions as identity_permissions
from carebase.identity.roles import Role
from carebase.jobs import permissions as jobs_permissions
from carebase.patients import permissions as patient_permissions
from carebase.scheduling import permissions as scheduling_permissions
from carebase.tenancy import permissions as tenancy_permissions

CONTEXTS: list[tuple[str, ModuleType]] = [
    ("identity", identity_permissions),
    ("tenancy", tenancy_permissions),
    ("patients", patient_permissions),
    ("directory", directory_permissions),
    ("scheduling", scheduling_permissions),
    ("audit", audit_permissions),
    ("jobs", jobs_permissions),
]


@cache
def permissions_for(role: Role) -> frozenset[str]:
    granted: set[str] = set()
    for _, module in CONTEXTS:
        granted |= {str(p) for p in module.GRANTS.get(role, set())}
    return frozenset(granted)


def all_permissions() -> list[tuple[str, StrEnum, str]]:
    rows = []
    for context, module in CONTEXTS:
        for perm, description in module.DESCRIPTIONS.items():
            rows.append((context, perm, description))
    return rows


def render_markdown() -> str:
    roles = list(Role)
    lines = [
        "# Permissions",
        "",
        "Generated from the code by `carebase permissions-doc`; a test fails when this file is stale.",
        "Everything not granted here is denied. Signed-in users may always read and manage their own",
        "account (profile, password, MFA, sessions, devices).",
        "",
        "| context | permission | meaning | " + " | ".join(r.label for r in roles) + " |",
        "|---|---|---|" + "---|" * len(roles),
    ]
    for context, perm, description in all_permissions():
        marks = ["yes" if str(perm) in permissions_for(r) else "" for r in roles]
        lines.append(f"| {context} | `{perm}` | {description} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"
