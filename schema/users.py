"""GraphQL of users: the user list, add and edit user, set a password."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.types import Info

from models.users import User
from resolvers import users
from resolvers.errors import Forbidden
from resolvers.roles import Permission, Role
from schema.common import Connection
from schema.organisations import OrganisationType, load_organisation
from schema.permissions import TOKEN_REFUSED, requires

RoleEnum = strawberry.enum(Role, name="Role")


@strawberry.enum
class Language(enum.Enum):
    EN = "EN"
    DE = "DE"
    ES = "ES"
    SV = "SV"


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    name: str
    email: str
    roles: list[RoleEnum]  # type: ignore[valid-type]
    language: Language
    csv_delimiter: str
    csv_thousands_separator: str
    must_change_password: bool
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime
    _model: strawberry.Private[User]

    @classmethod
    def of(cls, user: User) -> UserType:
        return cls(
            id=strawberry.ID(str(user.id)),
            name=user.name,
            email=user.email,
            roles=[Role(r) for r in user.role_list],
            language=Language(user.language),
            csv_delimiter=user.csv_delimiter,
            csv_thousands_separator=user.csv_thousands_separator,
            must_change_password=user.must_change_password,
            is_active=user.is_active,
            last_login_at=user.last_login_at,
            created_at=user.created_at,
            _model=user,
        )

    @strawberry.field
    async def organisation(self, info: Info) -> OrganisationType:
        return await load_organisation(info, self._model.organisation_id)  # type: ignore[attr-defined]

    @strawberry.field(description="Whether the user logs in with a second factor (a TOTP app).")
    def otp_enabled(self) -> bool:
        return self._model.otp_enabled_at is not None


@strawberry.input
class UserFilter:
    name: str | None = None
    email: str | None = None
    organisation_ids: list[strawberry.ID] | None = None
    roles: list[RoleEnum] | None = None  # type: ignore[valid-type]


@strawberry.input
class CreateUserInput:
    name: str
    email: str
    organisation_id: strawberry.ID
    roles: list[RoleEnum]  # type: ignore[valid-type]
    password: str
    language: Language | None = Language.EN
    csv_delimiter: str | None = ";"
    csv_thousands_separator: str | None = ""


@strawberry.input
class UpdateUserInput:
    name: str | None = None
    email: str | None = None
    organisation_id: strawberry.ID | None = None
    roles: list[RoleEnum] | None = None  # type: ignore[valid-type]
    language: Language | None = None
    csv_delimiter: str | None = None
    csv_thousands_separator: str | None = None
    is_active: bool | None = None


def _role_values(roles: list[Role] | None) -> list[str] | None:
    return None if roles is None else [r.value for r in roles]


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(Permission.MANAGE_USERS, self_arg="id"))
    async def user(self, info: Info, id: strawberry.ID) -> UserType | None:
        return UserType.of(await users.get_user(info.context.require_actor(), id))

    @strawberry.field(extensions=requires(Permission.MANAGE_USERS))
    async def users(
        self, info: Info, filter: UserFilter | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[UserType]:
        f = filter or UserFilter()
        flt = users.UserFilter(
            name=f.name,
            email=f.email,
            organisation_ids=[str(i) for i in f.organisation_ids or []] or None,
            roles=_role_values(f.roles),
        )
        page = await users.list_users(info.context.require_actor(), flt, first=first, after=after)
        return Connection.of(page, [UserType.of(u) for u in page.nodes])


@strawberry.type
class Mutation:
    # A user made with a token would outlive the token's expiry and revocation: signed-in administrators only.
    @strawberry.mutation(extensions=requires(Permission.MANAGE_USERS, session_only=True))
    async def create_user(self, info: Info, input: CreateUserInput) -> UserType:
        profile = users.Profile(
            name=input.name,
            email=input.email,
            organisation_id=str(input.organisation_id),
            roles=_role_values(input.roles),
            language=input.language.value if input.language else None,
            csv_delimiter=input.csv_delimiter,
            csv_thousands_separator=input.csv_thousands_separator,
        )
        return UserType.of(await users.create_user(info.context.require_actor(), profile, input.password))

    @strawberry.mutation(extensions=requires(Permission.MANAGE_USERS, self_arg="id"))
    async def update_user(self, info: Info, id: strawberry.ID, input: UpdateUserInput) -> UserType:
        actor = info.context.require_actor()
        if input.email is not None and actor.via != "session":
            # the new address confirms the change, then resets the password: an account for the token's holder
            raise Forbidden(TOKEN_REFUSED)
        profile = users.Profile(
            name=input.name,
            email=input.email,
            organisation_id=str(input.organisation_id) if input.organisation_id else None,
            roles=_role_values(input.roles),
            language=input.language.value if input.language else None,
            csv_delimiter=input.csv_delimiter,
            csv_thousands_separator=input.csv_thousands_separator,
            is_active=input.is_active,
        )
        return UserType.of(await users.update_user(actor, id, profile))

    @strawberry.mutation(extensions=requires(Permission.MANAGE_USERS, session_only=True))
    async def set_user_password(self, info: Info, id: strawberry.ID, new_password: str) -> UserType:
        return UserType.of(await users.set_user_password(info.context.require_actor(), id, new_password))
