"""Organisations (a tree) and partner links."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.organisations import Organisation, Partnership
from resolvers import _scope, audit
from resolvers.actor import Actor
from resolvers.errors import BadInput, Forbidden, KmsError, NotFound, duplicate_in, duplicate_of
from resolvers.pagination import Page, paginate
from resolvers.validation import checked_name


@dataclass(frozen=True)
class OrganisationChanges:
    name: str | None = None
    your_reference: str | None = None
    can_create_organisations: bool | None = None


SIBLING_NAME_INDEX = "organisations_sibling_name"  # migration 0018: (parent, lower(name)) is unique


def _name_taken(name: str, parent: Organisation | None) -> BadInput:
    where = f"{parent.name} already has" if parent is not None else "There is already a top-level organisation"
    return BadInput("name", f"{where} an organisation named {name}.")


async def _check_name_free(name: str, parent: Organisation | None, renamed: Organisation | None = None) -> None:
    """Refuse a name a sibling under ``parent`` (None: at the top) has already, compared case-insensitively.
    The unique index decides when two requests race; this check answers the usual case before anything is
    written."""
    siblings = Organisation.filter(parent_id=parent.id if parent else None, name__iexact=name)
    if renamed is not None:
        siblings = siblings.exclude(id=renamed.id)
    if await siblings.exists():
        raise _name_taken(name, parent)


def _clean_reference(reference: str | None) -> str | None:
    """ "Your reference" (the customer's own number for the organisation), or None when empty."""
    reference = (reference or "").strip()
    if len(reference) > 200:
        raise BadInput("yourReference", "Your reference may have at most 200 characters.")
    return reference or None


async def list_organisations(
    actor: Actor, *, name: str | None, first: int | None, after: str | None
) -> Page[Organisation]:
    query = _scope.organisations(actor)
    if name:
        query = query.filter(name__icontains=name)
    return await paginate(query, ("name", "id"), first=first, after=after)


async def create_organisation(
    actor: Actor, *, name: str, your_reference: str | None, can_create: bool, parent_id: str | None
) -> Organisation:
    """An organisation below ``parent_id`` (default: the caller's). Whether the caller's organisation may create
    organisations at all is checked on the schema field (schema/permissions.py, ``organisation_may_create``)."""
    parent = await _scope.organisation(actor, parent_id or actor.organisation_id)
    name = checked_name(name)
    reference = _clean_reference(your_reference)
    await _check_name_free(name, parent)
    try:
        async with in_transaction():
            new_id = uuid.uuid4()
            org = await Organisation.create(
                id=new_id,
                name=name,
                your_reference=reference,
                can_create_organisations=can_create,
                parent=parent,
                path=f"{parent.path}{new_id}/",
            )
            await audit.record(
                "organisation.created",
                actor,
                organisation_id=org.id,
                organisation_path=org.path,
                target=f"organisation:{org.id}",
                details={"name": org.name, "parentId": str(parent.id), "canCreateOrganisations": can_create},
            )
    except IntegrityError as exc:  # a sibling of that name was created between the check and the insert
        if not duplicate_in(exc, SIBLING_NAME_INDEX):
            raise
        raise _name_taken(name, parent) from None
    return org


async def update_organisation(actor: Actor, organisation_id: str, changes: OrganisationChanges) -> Organisation:
    org = await _scope.organisation(actor, organisation_id)
    if changes.can_create_organisations is not None and not actor.sees_everything:
        # An admin may pass on the right to create organisations below its own, never grant it to itself.
        if org.id == actor.organisation_id:
            raise Forbidden("You cannot change who may create organisations here.")
    updated: dict[str, object] = {}
    parent: Organisation | None = None  # the siblings' parent, when the name changes
    if changes.name is not None:
        if org.id == actor.organisation_id and not actor.sees_everything and changes.name.strip() != org.name:
            # Its siblings lie outside the caller's subtree: refusing a name one of them has would tell the
            # caller that organisation exists (and the parent's name). The organisation above renames it.
            raise Forbidden("Your organisation's name is changed by the organisation above it.")
        updated["name"] = name = checked_name(changes.name)
        parent = await Organisation.get_or_none(id=org.parent_id) if org.parent_id else None
        await _check_name_free(name, parent, renamed=org)
    if changes.your_reference is not None:
        updated["your_reference"] = _clean_reference(changes.your_reference)
    if changes.can_create_organisations is not None:
        updated["can_create_organisations"] = changes.can_create_organisations
    try:
        async with in_transaction():
            for field, value in updated.items():
                setattr(org, field, value)
            if updated:
                await org.save(update_fields=list(updated))
            await audit.record(
                "organisation.updated",
                actor,
                organisation_id=org.id,
                organisation_path=org.path,
                target=f"organisation:{org.id}",
                details={"fields": sorted(updated)},
            )
    except IntegrityError as exc:  # a sibling took the name between the check and the update
        if not duplicate_in(exc, SIBLING_NAME_INDEX):
            raise
        raise _name_taken(str(updated["name"]), parent) from None
    return org


async def _partnering(actor: Actor, for_organisation_id: str | None) -> Organisation:
    """The organisation whose partner links change: the caller's own, or one of its subtree."""
    if for_organisation_id is None:
        return await Organisation.get(id=actor.organisation_id)
    return await _scope.organisation(actor, for_organisation_id)


async def add_partner(actor: Actor, partner_id: str, for_organisation_id: str | None = None) -> Organisation:
    """Link an existing organisation, found by its ID (which its users copy and hand over), as a partner of
    the caller's organisation or of one in its subtree."""
    organisation = await _partnering(actor, for_organisation_id)
    try:
        partner = await Organisation.get_or_none(id=UUID(partner_id))
    except ValueError:
        partner = None
    if partner is None:
        raise NotFound("Organisation")
    if partner.path.startswith(organisation.path):
        raise BadInput("organisationId", "This organisation is already yours or below yours.")
    if await Partnership.exists(organisation_id=organisation.id, partner_id=partner.id):
        raise KmsError("This organisation is already a partner.", code="CONFLICT")
    try:
        async with in_transaction():
            await Partnership.create(organisation_id=organisation.id, partner_id=partner.id)
            await audit.record(
                "partner.added",
                actor,
                organisation_id=organisation.id,
                organisation_path=organisation.path,
                target=f"organisation:{partner.id}",
            )
    except IntegrityError as exc:  # a concurrent request added the same link between the check and the insert
        if not duplicate_of(exc, "partnerships", "organisation_id", "partner_id"):
            raise
        raise KmsError("This organisation is already a partner.", code="CONFLICT") from None
    return partner


async def remove_partner(actor: Actor, partner_id: str, for_organisation_id: str | None = None) -> bool:
    organisation = await _partnering(actor, for_organisation_id)
    try:
        pid = UUID(partner_id)
    except ValueError:
        raise NotFound("Partner") from None
    async with in_transaction():
        deleted = await Partnership.filter(organisation_id=organisation.id, partner_id=pid).delete()
        if not deleted:
            raise NotFound("Partner")
        await audit.record(
            "partner.removed",
            actor,
            organisation_id=organisation.id,
            organisation_path=organisation.path,
            target=f"organisation:{pid}",
        )
    return True


async def children(actor: Actor, organisation_id: UUID) -> list[Organisation]:
    return list(await _scope.organisations(actor).filter(parent_id=organisation_id).order_by("name", "id"))


async def partners_of(actor: Actor, organisation_id: UUID) -> list[Organisation]:
    links = await _scope.partners(actor).filter(organisation_id=organisation_id).prefetch_related("partner")
    return sorted((link.partner for link in links), key=lambda o: (o.name, str(o.id)))


async def by_ids(actor: Actor, ids: list[UUID]) -> list[tuple[Organisation, bool] | None]:
    """Batch load for DataLoaders: each id's organisation and whether the caller sees it in full."""
    full = {o.id: o for o in await _scope.organisations(actor).filter(id__in=ids)}
    missing = [i for i in ids if i not in full]
    limited: dict[UUID, Organisation] = {}
    if missing:
        links = await _scope.partners(actor).filter(partner_id__in=missing).prefetch_related("partner")
        limited = {link.partner.id: link.partner for link in links}
    result: list[tuple[Organisation, bool] | None] = []
    for i in ids:
        if i in full:
            result.append((full[i], True))
        elif i in limited:
            result.append((limited[i], False))
        else:
            result.append(None)
    return result
