"""GraphQL of logging in and out, the caller's own password and second factor (TOTP)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.users import User
from resolvers import auth, keystore
from resolvers.actor import Actor
from resolvers.errors import Forbidden
from resolvers.roles import Permission
from schema.context import Context
from schema.permissions import anyone, requires
from schema.users import UserType

OTP_ISSUER = "Meter KMS"


@strawberry.type(description="A new second-factor secret, shown once: type the secret or scan the URI as a QR code.")
class OtpSetup:
    secret: str = strawberry.field(description="Base32, as authenticator apps take it when typed.")
    uri: str = strawberry.field(description="otpauth://totp/... for a QR code.")


def _browser_actor(context: Context) -> Actor:
    actor = context.require_actor()
    if actor.via != "session":
        raise Forbidden("A second factor is managed in the console, not with an API token.")
    return actor


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
        user, cookie = await auth.login(
            email,
            password,
            context.session_policy,
            context.client_address,
            otp=otp,
            server=keystore.server_secret_or_none(context.settings),
        )
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
        actor = context.require_actor()
        if actor.via != "session":  # a token (perhaps a viewer's) must not take over its creator's account
            raise Forbidden("Passwords are changed in the console, not with an API token.")
        user, cookie = await auth.change_password(actor, current_password, new_password, context.session_policy)
        if cookie:
            _set_cookie(context, cookie)
        return UserType.of(user)

    @strawberry.mutation(
        extensions=requires(),
        description="Start setting up a second factor (TOTP). Asks for the password again; the factor is on "
        "once confirmOtpSetup receives a code from the app.",
    )
    async def start_otp_setup(self, info: Info, password: str) -> OtpSetup:
        context: Context = info.context
        setup = await auth.start_otp_setup(
            _browser_actor(context),
            password,
            keystore.server_secret(context.settings),
            OTP_ISSUER,
            context.session_policy,
        )
        return OtpSetup(secret=setup.secret, uri=setup.uri)

    @strawberry.mutation(extensions=requires(), description="Turn the second factor on with a code from the app.")
    async def confirm_otp_setup(self, info: Info, code: str) -> UserType:
        context: Context = info.context
        user = await auth.confirm_otp_setup(_browser_actor(context), code, keystore.server_secret(context.settings))
        return UserType.of(user)

    @strawberry.mutation(extensions=requires(), description="Turn your second factor off (password and a code).")
    async def disable_otp(self, info: Info, password: str, code: str) -> UserType:
        context: Context = info.context
        server = keystore.server_secret(context.settings)
        user = await auth.disable_otp(_browser_actor(context), password, code, server, context.session_policy)
        return UserType.of(user)

    @strawberry.mutation(
        extensions=requires(Permission.MANAGE_USERS, session_only=True),
        description="Remove another user's second factor (e.g. a lost phone); they set it up again.",
    )
    async def reset_user_otp(self, info: Info, id: strawberry.ID) -> UserType:
        return UserType.of(await auth.reset_user_otp(info.context.require_actor(), str(id)))
