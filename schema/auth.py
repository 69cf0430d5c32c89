"""GraphQL of logging in and out and the caller's own password."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.users import User
from resolvers import auth
from schema.context import Context
from schema.permissions import anyone, requires
from schema.users import UserType


@strawberry.type
class LoginResult:
    user: UserType
    must_change_password: bool


def _set_cookie(context: Context, value: str) -> None:
    secure = context.settings.cookie_secure
    is_secure = context.request.url.scheme == "https" if secure == "auto" else secure.lower() == "true"
    context.response.set_cookie(
        auth.SESSION_COOKIE,
        value,
        max_age=context.settings.session_absolute_seconds,
        path="/",
        httponly=True,
        secure=is_secure,
        samesite="strict",
    )


@strawberry.type
class Query:
    @strawberry.field(extensions=anyone())
    async def me(self, info: Info) -> UserType | None:
        actor = info.context.actor
        if actor is None:
            return None
        return UserType.of(await User.get(id=actor.user_id))


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=anyone())
    async def login(self, info: Info, email: str, password: str, otp: str | None = None) -> LoginResult:
        context: Context = info.context
        user, cookie = await auth.login(email, password, context.session_policy, context.client_address)
        _set_cookie(context, cookie)
        # The rest of this request (nested fields of the result) acts as the user who just logged in.
        context.actor = auth.actor_for(user, user.organisation, client_address=context.client_address)
        return LoginResult(user=UserType.of(user), must_change_password=user.must_change_password)

    @strawberry.mutation(extensions=requires(allow_pending=True))
    async def logout(self, info: Info) -> bool:
        context: Context = info.context
        await auth.logout(context.require_actor())
        context.response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return True

    @strawberry.mutation(extensions=requires(allow_pending=True))
    async def change_password(self, info: Info, current_password: str, new_password: str) -> UserType:
        context: Context = info.context
        user, cookie = await auth.change_password(
            context.require_actor(), current_password, new_password, context.session_policy
        )
        if cookie:
            _set_cookie(context, cookie)
        return UserType.of(user)
