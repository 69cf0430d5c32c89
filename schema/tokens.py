"""GraphQL of API tokens."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from models.tokens import ApiToken
from resolvers import tokens
from resolvers.roles import Permission, Role
from schema.organisations import OrganisationType, load_organisation
from schema.permissions import requires
from schema.users import RoleEnum


@strawberry.type(name="ApiToken")
class ApiTokenType:
    id: strawberry.ID
    name: str
    roles: list[RoleEnum]  # type: ignore[valid-type]
    prefix: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool
    created_at: datetime
    _model: strawberry.Private[ApiToken]

    @classmethod
    def of(cls, token: ApiToken) -> ApiTokenType:
        return cls(
            id=strawberry.ID(str(token.id)),
            name=token.name,
            roles=[Role(r) for r in token.role_list],
            prefix=token.prefix,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked=token.revoked_at is not None,
            created_at=token.created_at,
            _model=token,
        )

    @strawberry.field
    async def organisation(self, info: Info) -> OrganisationType:
        return await load_organisation(info, self._model.organisation_id)  # type: ignore[attr-defined]


@strawberry.type
class CreatedApiToken:
    api_token: ApiTokenType
    token: str = strawberry.field(description="The bearer secret. Returned once, never stored in clear.")


@strawberry.input
class CreateApiTokenInput:
    name: str
    roles: list[RoleEnum]  # type: ignore[valid-type]
    expires_at: datetime | None = None


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(Permission.MANAGE_API_TOKENS))
    async def api_tokens(self, info: Info) -> list[ApiTokenType]:
        return [ApiTokenType.of(t) for t in await tokens.list_tokens(info.context.require_actor())]


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires(Permission.MANAGE_API_TOKENS))
    async def create_api_token(self, info: Info, input: CreateApiTokenInput) -> CreatedApiToken:
        token, secret = await tokens.create_token(
            info.context.require_actor(),
            name=input.name,
            roles=[r.value for r in input.roles],  # type: ignore[attr-defined]
            expires_at=input.expires_at,
        )
        return CreatedApiToken(api_token=ApiTokenType.of(token), token=secret)

    @strawberry.mutation(extensions=requires(Permission.MANAGE_API_TOKENS))
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> ApiTokenType:
        return ApiTokenType.of(await tokens.revoke_token(info.context.require_actor(), id))
