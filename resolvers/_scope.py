"""The one place that filters rows by organisation.

Every query a resolver runs on tenant data starts from a function here. A PLATFORM_ADMIN sees every
organisation; everybody else sees their organisation and the subtree below it (a prefix match on the
organisation's materialised path). Partners are visible by name and ID only.
"""

from __future__ import annotations

from uuid import UUID

from tortoise.queryset import QuerySet

from models.audit import AuditEvent
from models.organisations import Organisation, Partnership
from models.tokens import ApiToken
from models.users import User
from resolvers.actor import Actor
from resolvers.errors import NotFound
from resolvers.roles import Permission


def in_subtree(actor: Actor, organisation_path: str) -> bool:
    return actor.sees_everything or organisation_path.startswith(actor.organisation_path)


def organisations(actor: Actor) -> QuerySet[Organisation]:
    query = Organisation.all()
    return query if actor.sees_everything else query.filter(path__startswith=actor.organisation_path)


def users(actor: Actor) -> QuerySet[User]:
    query = User.all()
    if actor.sees_everything:
        return query
    return query.filter(organisation__path__startswith=actor.organisation_path)


def api_tokens(actor: Actor) -> QuerySet[ApiToken]:
    query = ApiToken.all()
    if actor.sees_everything:
        return query
    if actor.has(Permission.MANAGE_USERS):
        return query.filter(organisation__path__startswith=actor.organisation_path)
    return query.filter(created_by_id=actor.user_id)


def audit_events(actor: Actor) -> QuerySet[AuditEvent]:
    query = AuditEvent.all()
    if actor.sees_everything:
        return query
    if actor.has(Permission.MANAGE_USERS):  # admins read their subtree's events
        return query.filter(organisation_path__startswith=actor.organisation_path)
    return query.filter(actor_user_id=actor.user_id)  # everybody else reads their own


def partners(actor: Actor) -> QuerySet[Partnership]:
    """Partner links the caller may see: those made by an organisation of its subtree."""
    query = Partnership.all()
    if actor.sees_everything:
        return query
    return query.filter(organisation__path__startswith=actor.organisation_path)


def _parse_id(value: str | UUID, what: str) -> UUID:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise NotFound(what) from None


async def organisation(actor: Actor, organisation_id: str | UUID) -> Organisation:
    """An organisation of the caller's subtree, or NOT_FOUND."""
    found = await organisations(actor).get_or_none(id=_parse_id(organisation_id, "Organisation"))
    if found is None:
        raise NotFound("Organisation")
    return found


async def visible_organisation(actor: Actor, organisation_id: str | UUID) -> tuple[Organisation, bool]:
    """An organisation the caller may see, and whether it sees it in full (False: a partner, name and ID only)."""
    oid = _parse_id(organisation_id, "Organisation")
    found = await organisations(actor).get_or_none(id=oid)
    if found is not None:
        return found, True
    link = await partners(actor).filter(partner_id=oid).prefetch_related("partner").first()
    if link is None:
        raise NotFound("Organisation")
    return link.partner, False


async def user(actor: Actor, user_id: str | UUID) -> User:
    found = await users(actor).get_or_none(id=_parse_id(user_id, "User"))
    if found is None:
        raise NotFound("User")
    return found


async def api_token(actor: Actor, token_id: str | UUID) -> ApiToken:
    found = await api_tokens(actor).get_or_none(id=_parse_id(token_id, "API token"))
    if found is None:
        raise NotFound("API token")
    return found
