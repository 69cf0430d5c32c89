"""Who is calling: a user through a browser session or an API token."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from uuid import UUID

from resolvers.roles import Permission, Role, grantable_roles, permissions_of


@dataclass(frozen=True)
class Actor:
    """The caller of one request, loaded once per request (schema permission checks read it without I/O)."""

    user_id: UUID
    email: str
    name: str
    organisation_id: UUID
    organisation_path: str
    organisation_can_create: bool
    roles: frozenset[Role]
    must_change_password: bool
    via: str  # "session" or "token"
    session_digest: str | None = None
    token_id: UUID | None = None
    token_prefix: str | None = None
    client_address: str | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        return _permissions(self.roles)

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions

    def is_self(self, user_id: object) -> bool:
        """Whether ``user_id`` (a UUID or an ID as the caller spelled it, in any case) names the caller."""
        try:
            return UUID(str(user_id)) == self.user_id
        except ValueError:
            return False

    @property
    def sees_everything(self) -> bool:
        return Permission.SEE_ALL_ORGANISATIONS in self.permissions

    @property
    def grantable(self) -> frozenset[Role]:
        return grantable_roles(self.roles)

    @property
    def label(self) -> str:
        """How the audit log names this caller (never a secret: a token shows its public prefix)."""
        if self.via == "token":
            return f"token:{self.token_prefix} ({self.email})"
        return f"user:{self.email}"


@functools.cache
def _permissions(roles: frozenset[Role]) -> frozenset[Permission]:
    """Permissions of a set of roles (a handful of sets exist; every permission check asks)."""
    return permissions_of(roles)
