"""GraphQL of organisations and partners."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.organisations import Organisation
from resolvers import _scope, organisations
from resolvers.roles import Permission
from schema.common import Connection
from schema.permissions import requires


@strawberry.type(name="Organisation")
class OrganisationType:
    """An organisation. A partner (outside the caller's subtree) shows its name and ID only."""

    id: strawberry.ID
    name: str
    created_at: datetime
    _model: strawberry.Private[Organisation]
    _full: strawberry.Private[bool]

    @classmethod
    def of(cls, model: Organisation, full: bool = True) -> OrganisationType:
        return cls(
            id=strawberry.ID(str(model.id)), name=model.name, created_at=model.created_at, _model=model, _full=full
        )

    @strawberry.field
    def your_reference(self) -> str | None:
        return self._model.your_reference if self._full else None

    @strawberry.field
    def can_create_organisations(self) -> bool:
        return self._model.can_create_organisations if self._full else False

    @strawberry.field
    async def parent(self, info: Info) -> OrganisationType | None:
        parent_id = self._model.parent_id
        if not self._full or parent_id is None:
            return None
        found = await info.context.organisation_loader().load(parent_id)
        return OrganisationType.of(*found) if found else None

    @strawberry.field
    async def children(self, info: Info) -> list[OrganisationType]:
        if not self._full:
            return []
        found = await organisations.children(info.context.require_actor(), self._model.id)
        return [OrganisationType.of(o) for o in found]

    @strawberry.field
    async def partners(self, info: Info) -> list[OrganisationType]:
        if not self._full:
            return []
        found = await organisations.partners_of(info.context.require_actor(), self._model.id)
        return [OrganisationType.of(o, full=False) for o in found]


async def load_organisation(info: Info, organisation_id: object) -> OrganisationType:
    found = await info.context.organisation_loader().load(organisation_id)
    if found is None:  # e.g. an audit event of an organisation the caller cannot see
        raise LookupError("organisation not visible")
    return OrganisationType.of(*found)


@strawberry.input
class OrganisationInput:
    name: str
    your_reference: str | None = None
    can_create_organisations: bool | None = False
    parent_id: strawberry.ID | None = None


@strawberry.input
class UpdateOrganisationInput:
    name: str | None = None
    your_reference: str | None = None
    can_create_organisations: bool | None = None


@strawberry.type
class Query:
    @strawberry.field(extensions=requires())
    async def organisation(self, info: Info, id: strawberry.ID) -> OrganisationType | None:
        org, full = await _scope.visible_organisation(info.context.require_actor(), id)
        return OrganisationType.of(org, full)

    @strawberry.field(extensions=requires())
    async def organisations(
        self, info: Info, name: str | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[OrganisationType]:
        page = await organisations.list_organisations(info.context.require_actor(), name=name, first=first, after=after)
        return Connection.of(page, [OrganisationType.of(o) for o in page.nodes])


# Whose partner links addPartner and removePartner change.
ForOrganisation = Annotated[
    strawberry.ID | None,
    strawberry.argument(description="Whose partner: the caller's organisation (default) or one below it."),
]


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires(Permission.MANAGE_ORGANISATIONS, organisation_may_create=True))
    async def create_organisation(self, info: Info, input: OrganisationInput) -> OrganisationType:
        org = await organisations.create_organisation(
            info.context.require_actor(),
            name=input.name,
            your_reference=input.your_reference,
            can_create=bool(input.can_create_organisations),
            parent_id=input.parent_id,
        )
        return OrganisationType.of(org)

    @strawberry.mutation(extensions=requires(Permission.MANAGE_ORGANISATIONS, organisation_may_create=True))
    async def update_organisation(
        self, info: Info, id: strawberry.ID, input: UpdateOrganisationInput
    ) -> OrganisationType:
        changes = organisations.OrganisationChanges(
            name=input.name,
            your_reference=input.your_reference,
            can_create_organisations=input.can_create_organisations,
        )
        return OrganisationType.of(await organisations.update_organisation(info.context.require_actor(), id, changes))

    @strawberry.mutation(extensions=requires(Permission.MANAGE_ORGANISATIONS, organisation_may_create=True))
    async def add_partner(
        self,
        info: Info,
        organisation_id: strawberry.ID,
        for_organisation_id: ForOrganisation = None,
    ) -> OrganisationType:
        actor = info.context.require_actor()
        partner = await organisations.add_partner(actor, organisation_id, for_organisation_id)
        return OrganisationType.of(partner, full=False)

    @strawberry.mutation(extensions=requires(Permission.MANAGE_ORGANISATIONS, organisation_may_create=True))
    async def remove_partner(
        self,
        info: Info,
        organisation_id: strawberry.ID,
        for_organisation_id: ForOrganisation = None,
    ) -> bool:
        return await organisations.remove_partner(info.context.require_actor(), organisation_id, for_organisation_id)
