"""The one place that filters rows by organisation.

Every query a resolver runs on tenant data starts from a function here. A PLATFORM_ADMIN sees every
organisation; everybody else sees their organisation and the subtree below it (a prefix match on the
organisation's materialised path). Partners are visible by name and ID only.
"""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from models.audit import AuditEvent
from models.devices import BatchReference, Device, DeviceCount, DeviceLabelCount
from models.email_templates import EmailTemplate
from models.invites import Invite
from models.organisations import Organisation, Partnership
from models.tokens import ApiToken
from models.users import User
from resolvers.actor import Actor
from resolvers.devices.common import BatchRow
from resolvers.errors import KmsError, NotFound
from resolvers.roles import Permission, Role


def subtree(field: str, path: str) -> dict[str, str]:
    """Filter arguments for "field lies in the subtree at path": a range, so an index serves it even in a
    generic prepared plan. Paths end with "/" and "0" is the byte after "/"; migration 0004 makes
    PostgreSQL compare these columns byte by byte."""
    return {f"{field}__gte": path, f"{field}__lt": path[:-1] + "0"}


def in_subtree(actor: Actor, organisation_path: str) -> bool:
    return actor.sees_everything or organisation_path.startswith(actor.organisation_path)


def organisations(actor: Actor) -> QuerySet[Organisation]:
    query = Organisation.all()
    return query if actor.sees_everything else query.filter(**subtree("path", actor.organisation_path))


def users(actor: Actor) -> QuerySet[User]:
    query = User.all()
    if actor.sees_everything:
        return query
    return query.filter(**subtree("organisation__path", actor.organisation_path))


def api_tokens(actor: Actor) -> QuerySet[ApiToken]:
    query = ApiToken.all()
    if actor.sees_everything:
        return query
    if actor.has(Permission.MANAGE_USERS):
        return query.filter(**subtree("organisation__path", actor.organisation_path))
    return query.filter(created_by_id=actor.user_id)


def audit_events(actor: Actor) -> QuerySet[AuditEvent]:
    query = AuditEvent.all()
    if actor.sees_everything:
        return query
    if actor.has(Permission.MANAGE_USERS):  # admins read their subtree's events
        return query.filter(**subtree("organisation_path", actor.organisation_path))
    return query.filter(actor_user_id=actor.user_id)  # everybody else reads their own


def partners(actor: Actor) -> QuerySet[Partnership]:
    """Partner links the caller may see: those made by an organisation of its subtree."""
    query = Partnership.all()
    if actor.sees_everything:
        return query
    return query.filter(**subtree("organisation__path", actor.organisation_path))


def devices(actor: Actor) -> QuerySet[Device]:
    query = Device.all()
    return query if actor.sees_everything else query.filter(**subtree("owner_path", actor.organisation_path))


def devices_sql(actor: Actor, first_parameter: int) -> tuple[str, list[str]]:
    """devices() as a SQL condition on the devices table with its PostgreSQL parameters ($n, $n+1), for the
    few bulk statements written by hand (one array parameter instead of thousands of bound values)."""
    if actor.sees_everything:
        return "TRUE", []
    bounds = subtree("owner_path", actor.organisation_path)
    return (
        f"owner_path >= ${first_parameter} AND owner_path < ${first_parameter + 1}",
        [bounds["owner_path__gte"], bounds["owner_path__lt"]],
    )


def _in_subtree_sql(actor: Actor, column: str, first_parameter: int) -> tuple[str, list[str]]:
    """The SQL condition: ``column`` (an organisation id) is an organisation of the caller's subtree."""
    if actor.sees_everything:
        return "TRUE", []
    bounds = subtree("path", actor.organisation_path)
    return (
        f"{column} IN (SELECT id FROM organisations WHERE path >= ${first_parameter} "  # noqa: S608 - names are ours
        f"AND path < ${first_parameter + 1})",
        [bounds["path__gte"], bounds["path__lt"]],
    )


def device_counts_sql(actor: Actor, first_parameter: int, alias: str = "device_counts") -> tuple[str, list[str]]:
    """device_counts() as a SQL condition on the table (or its ``alias``) with its PostgreSQL parameters."""
    return _in_subtree_sql(actor, f"{alias}.owner_id", first_parameter)


def device_counts(actor: Actor) -> QuerySet[DeviceCount]:
    query = DeviceCount.all()
    return query if actor.sees_everything else query.filter(**subtree("owner__path", actor.organisation_path))


def device_label_counts(actor: Actor) -> QuerySet[DeviceLabelCount]:
    query = DeviceLabelCount.all()
    return query if actor.sees_everything else query.filter(**subtree("owner__path", actor.organisation_path))


def batches(actor: Actor) -> QuerySet[BatchReference]:
    """Batches addressed to the caller's subtree or sent by it."""
    query = BatchReference.all()
    if actor.sees_everything:
        return query
    path = actor.organisation_path
    return query.filter(Q(**subtree("organisation__path", path)) | Q(**subtree("sender__path", path)))


def sent_batches(actor: Actor) -> QuerySet[BatchReference]:
    """Batches sent by the caller's subtree (which it may withdraw while they wait for confirmation)."""
    query = BatchReference.all()
    return query if actor.sees_everything else query.filter(**subtree("sender__path", actor.organisation_path))


async def addressed_organisation(batch: BatchReference | BatchRow) -> Organisation:
    """The organisation a batch the caller sees is addressed to, shown by name and ID whatever the partner link
    is now (the sender addressed it). ``batch`` must come from batches() or batches_sql()."""
    return await Organisation.get(id=batch.organisation_id)  # type: ignore[union-attr]


def batches_sql(actor: Actor, first_parameter: int, alias: str = "batch_references") -> tuple[str, list[str]]:
    """batches() as a SQL condition on the table (or its ``alias``) with its PostgreSQL parameters: addressed
    to the caller's subtree or sent by it."""
    if actor.sees_everything:
        return "TRUE", []
    bounds = subtree("path", actor.organisation_path)
    return (
        f"EXISTS (SELECT 1 FROM organisations o WHERE o.id IN ({alias}.organisation_id, {alias}.sender_id) "  # noqa: S608
        f"AND o.path >= ${first_parameter} AND o.path < ${first_parameter + 1})",
        [bounds["path__gte"], bounds["path__lt"]],
    )


async def device(actor: Actor, device_id: str | UUID) -> Device:
    found = await devices(actor).get_or_none(id=_parse_id(device_id, "Device"))
    if found is None:
        raise KmsError("Device not found.", code="DEVICE_NOT_FOUND")
    return found


M = TypeVar("M", bound=Model)


async def _one(query: QuerySet[M], object_id: str | UUID, what: str) -> M:
    """The object with this id among what ``query`` lets the caller see, or NOT_FOUND (the same answer
    whether it exists in another organisation or not at all)."""
    found = await query.get_or_none(id=_parse_id(object_id, what))
    if found is None:
        raise NotFound(what)
    return found


def _parse_id(value: str | UUID, what: str) -> UUID:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise NotFound(what) from None


async def organisation(actor: Actor, organisation_id: str | UUID) -> Organisation:
    """An organisation of the caller's subtree, or NOT_FOUND."""
    return await _one(organisations(actor), organisation_id, "Organisation")


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
    return await _one(users(actor), user_id, "User")


async def api_token(actor: Actor, token_id: str | UUID) -> ApiToken:
    return await _one(api_tokens(actor), token_id, "API token")


# --- invites and email templates (issue #3) ---


def invites(actor: Actor) -> QuerySet[Invite]:
    """Invites of the caller's subtree whose roles the caller could grant itself: an invite carrying a higher
    role is somebody else's to send, and its signup link would hand that role to whoever opens it."""
    query = Invite.all()
    if not actor.sees_everything:
        query = query.filter(**subtree("organisation__path", actor.organisation_path))
    for role in Role:
        if role not in actor.grantable:
            query = query.exclude(roles__contains=f",{role.value},")
    return query


async def invite(actor: Actor, invite_id: str | UUID) -> Invite:
    return await _one(invites(actor), invite_id, "Invite")


def email_templates(actor: Actor) -> QuerySet[EmailTemplate]:
    """System templates and the copies of the caller's subtree (a PLATFORM_ADMIN: every copy)."""
    query = EmailTemplate.all()
    if actor.sees_everything:
        return query
    return query.filter(Q(is_system=True) | Q(**subtree("organisation__path", actor.organisation_path)))


async def email_template(actor: Actor, template_id: str | UUID) -> EmailTemplate:
    return await _one(email_templates(actor), template_id, "Email template")
