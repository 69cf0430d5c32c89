"""Roles and the permission matrix of architecture.md ("Tenancy and roles")."""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Role(enum.Enum):
    PLATFORM_ADMIN = "PLATFORM_ADMIN"
    OTC_ADMIN = "OTC_ADMIN"
    KEY_MANAGER = "KEY_MANAGER"
    VIEWER = "VIEWER"


class Permission(enum.Enum):
    READ_CATALOG = "read device catalog, facets, batches"
    IMPORT_DEVICES = "import devices, generate keys"
    MANAGE_BATCHES = "labels, batch references"
    CLAIM_DEVICES = "take ownership, claim devices"
    RELEASE_KEYS = "release keys, verify a key"
    MANAGE_USERS = "users, invites"
    MANAGE_ORGANISATIONS = "organisations, partners"
    EDIT_SYSTEM_TEMPLATES = "edit system email templates"
    MANAGE_TEMPLATES = "organisation email templates"
    MANAGE_API_TOKENS = "API tokens"
    READ_AUDIT = "audit log"
    VERIFY_AUDIT = "verify the whole audit chain"
    INTROSPECT = "GraphiQL and introspection"
    SEE_ALL_ORGANISATIONS = "act on every organisation"


P = Permission
_KEY_MANAGER = {
    P.READ_CATALOG,
    P.MANAGE_BATCHES,
    P.CLAIM_DEVICES,
    P.RELEASE_KEYS,
    P.MANAGE_API_TOKENS,
    P.READ_AUDIT,
}
_OTC_ADMIN = _KEY_MANAGER | {P.MANAGE_USERS, P.MANAGE_ORGANISATIONS, P.MANAGE_TEMPLATES, P.INTROSPECT}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({P.READ_CATALOG}),
    Role.KEY_MANAGER: frozenset(_KEY_MANAGER),
    Role.OTC_ADMIN: frozenset(_OTC_ADMIN),
    Role.PLATFORM_ADMIN: frozenset(Permission),
}

# Roles are ordered by power: each one's permissions include those of the roles below it. "Nobody
# grants a role they do not hold" therefore means: nobody grants a role above their highest one.
ROLE_RANK = {Role.VIEWER: 1, Role.KEY_MANAGER: 2, Role.OTC_ADMIN: 3, Role.PLATFORM_ADMIN: 4}


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    result: set[Permission] = set()
    for role in roles:
        result |= ROLE_PERMISSIONS[role]
    return frozenset(result)


def grantable_roles(roles: Iterable[Role]) -> frozenset[Role]:
    """The roles a holder of ``roles`` may give to somebody else (a user, an invite, a token)."""
    top = max((ROLE_RANK[r] for r in roles), default=0)
    return frozenset(r for r, rank in ROLE_RANK.items() if rank <= top)


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    return frozenset(Role(v) for v in values if v in Role.__members__)
