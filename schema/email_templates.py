"""GraphQL of email templates (manual 9.9)."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.types import Info

from models.email_templates import EmailTemplate
from resolvers import email_rendering, email_templates
from resolvers.roles import Permission
from schema.common import Connection
from schema.organisations import OrganisationType
from schema.permissions import requires
from schema.users import Language


@strawberry.enum
class EmailType(enum.Enum):
    CONFIRM_EMAIL = "CONFIRM_EMAIL"
    INVITE_USER = "INVITE_USER"
    NEW_BATCH = "NEW_BATCH"
    RESET_PASSWORD = "RESET_PASSWORD"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"


@strawberry.type
class EmailPreview:
    subject: str
    html: str
    text: str

    @classmethod
    def of(cls, rendered: email_rendering.RenderedEmail) -> EmailPreview:
        return cls(subject=rendered.subject, html=rendered.html, text=rendered.text)


@strawberry.type
class EmailPlaceholder:
    """A placeholder a template of its type may use, written ``{{ name }}``."""

    name: str
    description: str


@strawberry.type(name="EmailTemplate")
class EmailTemplateType:
    id: strawberry.ID
    name: str
    type: EmailType
    language: Language
    subject: str
    body: str
    active: bool
    is_system: bool = strawberry.field(description="Shipped with the platform; can be copied, not edited or deleted.")
    updated_at: datetime
    _model: strawberry.Private[EmailTemplate]

    @classmethod
    def of(cls, model: EmailTemplate) -> EmailTemplateType:
        return cls(
            id=strawberry.ID(str(model.id)),
            name=model.name,
            type=EmailType(model.type),
            language=Language(model.language),
            subject=model.subject,
            body=model.body,
            active=model.active,
            is_system=model.is_system,
            updated_at=model.updated_at,
            _model=model,
        )

    @strawberry.field
    async def organisation(self, info: Info) -> OrganisationType | None:
        org_id = self._model.organisation_id  # type: ignore[attr-defined]
        if org_id is None:
            return None
        found = await info.context.organisation_loader().load(org_id)
        return OrganisationType.of(*found) if found else None  # e.g. a parent's template used for an invite

    @strawberry.field
    def preview(self) -> EmailPreview:
        return EmailPreview.of(email_templates.preview(self._model))

    @strawberry.field(description="The placeholders templates of this type may use.")
    def placeholders(self) -> list[EmailPlaceholder]:
        return [
            EmailPlaceholder(name=name, description=text)
            for name, text in email_rendering.PLACEHOLDERS[self._model.type].items()
        ]


@strawberry.input
class EmailTemplateFilter:
    type: EmailType | None = None
    active: bool | None = None
    language: Language | None = None


@strawberry.input
class UpdateEmailTemplateInput:
    name: str | None = None
    language: Language | None = None
    subject: str | None = None
    body: str | None = None


MANAGE = Permission.MANAGE_TEMPLATES


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(MANAGE))
    async def email_template(self, info: Info, id: strawberry.ID) -> EmailTemplateType | None:
        return EmailTemplateType.of(await email_templates.get_template(info.context.require_actor(), id))

    @strawberry.field(extensions=requires(MANAGE))
    async def email_templates(
        self, info: Info, filter: EmailTemplateFilter | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[EmailTemplateType]:
        f = filter or EmailTemplateFilter()
        flt = email_templates.TemplateFilter(
            type=f.type.value if f.type else None, active=f.active, language=f.language.value if f.language else None
        )
        page = await email_templates.list_templates(info.context.require_actor(), flt, first=first, after=after)
        return Connection.of(page, [EmailTemplateType.of(t) for t in page.nodes])


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires(MANAGE))
    async def send_test_email(self, info: Info, template_id: strawberry.ID, to: str) -> bool:
        return await email_templates.send_test_email(
            info.context.require_actor(), template_id, to, info.context.settings
        )

    @strawberry.mutation(extensions=requires(MANAGE))
    async def copy_email_template(self, info: Info, id: strawberry.ID) -> EmailTemplateType:
        return EmailTemplateType.of(await email_templates.copy_template(info.context.require_actor(), id))

    @strawberry.mutation(extensions=requires(MANAGE))
    async def activate_email_template(self, info: Info, id: strawberry.ID) -> EmailTemplateType:
        return EmailTemplateType.of(await email_templates.activate_template(info.context.require_actor(), id))

    @strawberry.mutation(extensions=requires(MANAGE))
    async def update_email_template(
        self, info: Info, id: strawberry.ID, input: UpdateEmailTemplateInput
    ) -> EmailTemplateType:
        changes = email_templates.TemplateChanges(
            name=input.name,
            language=input.language.value if input.language else None,
            subject=input.subject,
            body=input.body,
        )
        return EmailTemplateType.of(await email_templates.update_template(info.context.require_actor(), id, changes))

    @strawberry.mutation(extensions=requires(MANAGE))
    async def delete_email_template(self, info: Info, id: strawberry.ID) -> bool:
        return await email_templates.delete_template(info.context.require_actor(), id)
