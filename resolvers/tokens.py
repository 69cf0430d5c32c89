"""API tokens: created by a user for its organisation, shown once, stored as a digest."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from crypto import tokens
from models.organisations import Organisation
from models.tokens import ApiToken
from models.users import User
from resolvers import _scope, audit
from resolvers.actor import Actor
from resolvers.auth import TOKEN_PREFIX
from resolvers.errors import BadInput, Forbidden
from resolvers.roles import parse_roles
from resolvers.validation import checked_name


async def create_token(
    actor: Actor, *, name: str, roles: list[str], expires_at: datetime | None
) -> tuple[ApiToken, str]:
    """Returns the token row and the secret, which is never shown again. Tokens are made by a signed-in user:
    one made with a token would outlive that token's expiry and revocation."""
    if actor.via == "token":
        raise Forbidden("API tokens are created by a signed-in user, not with another API token.")
    name = checked_name(name)
    wanted = parse_roles(roles)
    if not wanted or len(wanted) != len(set(roles)):
        raise BadInput("roles", "Give at least one known role.")
    if not wanted <= actor.grantable:
        raise Forbidden("A token cannot hold a role you do not hold.")
    if expires_at is not None and expires_at.utcoffset() is None:
        raise BadInput("expiresAt", "Give the expiry with a time zone offset.")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise BadInput("expiresAt", "The expiry must lie in the future.")
    secret, digest = tokens.new_token(TOKEN_PREFIX)
    async with in_transaction():
        token = await ApiToken.create(
            name=name,
            organisation_id=actor.organisation_id,
            created_by_id=actor.user_id,
            roles=User.encode_roles({r.value for r in wanted}),
            prefix=tokens.display_prefix(secret),
            digest=digest,
            expires_at=expires_at,
        )
        await audit.record(
            "token.created",
            actor,
            target=f"token:{token.id}",
            details={"name": name, "prefix": token.prefix, "roles": sorted(r.value for r in wanted)},
        )
    return token, secret


async def list_tokens(actor: Actor) -> list[ApiToken]:
    return list(await _scope.api_tokens(actor).order_by("-created_at", "id").limit(1000))


async def revoke_token(actor: Actor, token_id: str) -> ApiToken:
    token = await _scope.api_token(actor, token_id)
    if token.revoked_at is None:
        # Recorded under the token's organisation (an admin may revoke a token of its subtree), so that
        # organisation's admins see it in their audit log.
        organisation = await Organisation.get(id=token.organisation_id)  # type: ignore[attr-defined]
        async with in_transaction():
            token.revoked_at = datetime.now(UTC)
            await token.save(update_fields=["revoked_at"])
            await audit.record(
                "token.revoked",
                actor,
                organisation_id=organisation.id,
                organisation_path=organisation.path,
                target=f"token:{token.id}",
                details={"prefix": token.prefix},
            )
    return token
