"""GraphQL of accounts by mail: password reset and confirming a changed email address. Open to anonymous
callers: the mailed token is the proof."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import accounts
from schema.permissions import anyone


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
