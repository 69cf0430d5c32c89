"""GraphQL of invites (manual 9.4, 9.5)."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.types import Info

from models.invites import Invite
from resolvers import auth, invites
from resolvers.roles import Permission, Role
from schema.common import Connection
from schema.context import Context
from schema.email_templates import EmailPreview, EmailTemplateType
from schema.organisations import OrganisationType, load_organisation
from schema.permissions import anyone, requires
from schema.users import Language, RoleEnum, UserType


@strawberry.enum
class InviteState(enum.Enum):
    PREPARED = "PREPARED"
    SENT = "SENT"
    ACCEPTED = "ACCEPTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


@strawberry.type(name="Invite")
class InviteType:
    id: strawberry.ID
    name: str
    email: str | None
    roles: list[RoleEnum]  # type: ignore[valid-type]
    language: Language
    state: InviteState
    expires_at: datetime
    sent_at: datetime | None
    created_at: datetime
    _model: strawberry.Private[Invite]

    @classmethod
    def of(cls, model: Invite) -> InviteType:
        return cls(
            id=strawberry.ID(str(model.id)),
            name=model.name,
            email=model.email,
            roles=[Role(r) for r in model.roles.split(",") if r],
            language=Language(model.language),
            state=InviteState(invites.state_of(model)),
            expires_at=model.expires_at,
            sent_at=model.sent_at,
            created_at=model.created_at,
            _model=model,
        )

    @strawberry.field
    async def organisation(self, info: Info) -> OrganisationType:
        return await load_organisation(info, self._model.organisation_id)  # type: ignore[attr-defined]

    @strawberry.field(
        extensions=requires(session_only=True),  # a token's holder would sign up with it, beyond the token's life
        description="Single-use, time-limited link that lets the invitee set a password.",
    )
    def signup_link(self, info: Info) -> str:
        return invites.signup_link(info.context.settings, self._model)

    @strawberry.field(description="The template the invitation is written with.")
    async def template(self) -> EmailTemplateType:
        return EmailTemplateType.of(await invites.template_for(self._model))

    @strawberry.field(description="The invitation as it will be mailed.")
    async def preview(self, info: Info) -> EmailPreview:
        context: Context = info.context
        rendered = await invites.preview(self._model, context.settings, context.require_actor().name)
        return EmailPreview.of(rendered)

    @strawberry.field(description='After sending: "We sent an email to ...".')
    def notice(self) -> str | None:
        if self.state != InviteState.SENT or not self._model.email:
            return None
        return f"We sent an email to {self._model.email}. If it does not arrive, please contact your administrator."


@strawberry.input
class CreateInviteInput:
    name: str
    organisation_id: strawberry.ID
    roles: list[RoleEnum]  # type: ignore[valid-type]
    email: str | None = None
    language: Language | None = Language.EN


@strawberry.input(description="What to change in an invite that has not been sent; what is left out stays.")
class UpdateInviteInput:
    name: str | None = None
    organisation_id: strawberry.ID | None = None
    roles: list[RoleEnum] | None = None  # type: ignore[valid-type]
    email: str | None = strawberry.field(default=None, description="An empty string removes the address.")
    language: Language | None = None


@strawberry.input
class AcceptInviteInput:
    token: str
    email: str
    password: str
    name: str | None = None


MANAGE = Permission.MANAGE_USERS


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(MANAGE))
    async def invite(self, info: Info, id: strawberry.ID) -> InviteType | None:
        return InviteType.of(await invites.get_invite(info.context.require_actor(), id))

    @strawberry.field(extensions=requires(MANAGE))
    async def invites(self, info: Info, first: int | None = 50, after: str | None = None) -> Connection[InviteType]:
        page = await invites.list_invites(info.context.require_actor(), first=first, after=after)
        return Connection.of(page, [InviteType.of(i) for i in page.nodes])

    @strawberry.field(extensions=requires(MANAGE), description="Organisations the caller may invite users to.")
    async def invitable_organisations(self, info: Info) -> list[OrganisationType]:
        return [OrganisationType.of(o) for o in await invites.invitable_organisations(info.context.require_actor())]


@strawberry.type
class Mutation:
    # An invite makes an account that outlives the token that would send it: signed-in administrators only.
    @strawberry.mutation(extensions=requires(MANAGE, session_only=True))
    async def create_invite(self, info: Info, input: CreateInviteInput) -> InviteType:
        invite = await invites.create_invite(
            info.context.require_actor(),
            info.context.settings,
            name=input.name,
            email=input.email,
            organisation_id=str(input.organisation_id),
            roles=[r.value for r in input.roles],  # type: ignore[attr-defined]
            language=(input.language or Language.EN).value,
        )
        return InviteType.of(invite)

    @strawberry.mutation(extensions=requires(MANAGE, session_only=True))
    async def update_invite(self, info: Info, id: strawberry.ID, input: UpdateInviteInput) -> InviteType:
        changes = invites.InviteChanges(
            name=input.name,
            email=input.email,
            organisation_id=str(input.organisation_id) if input.organisation_id is not None else None,
            roles=[r.value for r in input.roles] if input.roles is not None else None,  # type: ignore[attr-defined]
            language=input.language.value if input.language is not None else None,
        )
        invite = await invites.update_invite(info.context.require_actor(), info.context.settings, id, changes)
        return InviteType.of(invite)

    @strawberry.mutation(extensions=requires(MANAGE, session_only=True))
    async def send_invite(self, info: Info, id: strawberry.ID, email: str | None = None) -> InviteType:
        invite = await invites.send_invite(info.context.require_actor(), info.context.settings, id, email)
        return InviteType.of(invite)

    @strawberry.mutation(extensions=requires(MANAGE))
    async def cancel_invite(self, info: Info, id: strawberry.ID) -> InviteType:
        return InviteType.of(await invites.cancel_invite(info.context.require_actor(), id))

    @strawberry.mutation(extensions=anyone())
    async def accept_invite(self, info: Info, input: AcceptInviteInput) -> UserType:
        context: Context = info.context
        user, org = await invites.accept_invite(
            context.settings, token=input.token, name=input.name, email=input.email, password=input.password
        )
        # The rest of this request (nested fields of the result) acts as the new user; it logs in next.
        context.actor = auth.actor_for(user, org, client_address=context.client_address)
        return UserType.of(user)
