"""GraphQL of accounts by mail: password reset and confirming a changed email address. Open to anonymous
callers: the mailed token is the proof."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import accounts
from schema.permissions import anyone, requires
from schema.users import UserType


@strawberry.type
class Mutation:
    @strawberry.mutation(
        extensions=anyone(), description="Mails a single-use reset link if the address is known; always true."
    )
    async def request_password_reset(self, info: Info, email: str) -> bool:
        return await accounts.request_password_reset(info.context.settings, email, info.context.client_address)

    @strawberry.mutation(extensions=anyone())
    async def reset_password(self, info: Info, token: str, new_password: str) -> bool:
        return await accounts.reset_password(token, new_password)

    @strawberry.mutation(
        extensions=anyone(), description="Applies an email change with the link sent to the new address."
    )
    async def confirm_email(self, info: Info, token: str) -> bool:
        return await accounts.confirm_email(token)

    @strawberry.mutation(
        extensions=requires(session_only=True),
        description="Changes the caller's own email address. The password is asked again; the address changes "
        "when confirmed with the link mailed to the new one (confirmEmail).",
    )
    async def change_email(self, info: Info, current_password: str, new_email: str) -> UserType:
        context = info.context
        user = await accounts.change_own_email(
            context.require_actor(), current_password, new_email, context.session_policy, context.settings
        )
        return UserType.of(user)
