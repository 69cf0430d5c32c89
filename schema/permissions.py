"""Who may call a field, declared on the field. Checks are synchronous and do no I/O: the caller was
loaded into the context before execution."""

from __future__ import annotations

from typing import Any

from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from resolvers.errors import Forbidden, PasswordChangeRequired, Unauthenticated
from resolvers.roles import Permission

TOKEN_REFUSED = "This is done in the console, not with an API token."
NOT_ALLOWED_TO_CREATE = (
    "Your organisation may not create or change organisations and partners. "
    "Ask the platform administrator for this right."
)


class Anyone(BasePermission):
    """Open to anonymous callers (log in, reset a password). Declared so that every field states its rule."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return True


class Authenticated(BasePermission):
    """A logged-in caller holding every given permission. Until a pending password change is done,
    only fields marked ``allow_pending`` answer. ``session_only`` fields refuse API tokens: what they do
    (set a password, take a second factor away) would hand an account to whoever holds a token, and the
    account would outlive the token's expiry and revocation. ``organisation_may_create`` fields also need the
    caller's organisation to be allowed to create organisations (the role matrix: organisations and partners,
    "subtree, if allowed"); the platform operator always is."""

    def __init__(
        self,
        *permissions: Permission,
        allow_pending: bool = False,
        self_arg: str | None = None,
        session_only: bool = False,
        organisation_may_create: bool = False,
    ) -> None:
        self.permissions = permissions
        self.allow_pending = allow_pending
        self.self_arg = self_arg
        self.session_only = session_only
        self.organisation_may_create = organisation_may_create

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        actor = info.context.actor
        if actor is None:
            raise Unauthenticated()
        if actor.must_change_password and not self.allow_pending:
            raise PasswordChangeRequired()
        if self.session_only and actor.via != "session":
            raise Forbidden(TOKEN_REFUSED)
        if self.self_arg and actor.is_self(kwargs.get(self.self_arg)):
            return True  # a user always reads and edits their own account
        if not all(actor.has(p) for p in self.permissions):
            raise Forbidden()
        if self.organisation_may_create and not (actor.sees_everything or actor.organisation_can_create):
            raise Forbidden(NOT_ALLOWED_TO_CREATE)
        return True


def anyone() -> list[FieldExtension]:
    return [PermissionExtension(permissions=[Anyone()], use_directives=False)]


def requires(
    *permissions: Permission,
    allow_pending: bool = False,
    self_arg: str | None = None,
    session_only: bool = False,
    organisation_may_create: bool = False,
) -> list[FieldExtension]:
    """Field extensions for ``@strawberry.field(extensions=requires(Permission.X))``."""
    check = Authenticated(
        *permissions,
        allow_pending=allow_pending,
        self_arg=self_arg,
        session_only=session_only,
        organisation_may_create=organisation_may_create,
    )
    return [PermissionExtension(permissions=[check], use_directives=False)]
