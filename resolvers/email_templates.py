"""Email templates (manual 9.9): list, preview, test mail, copy, activate, edit, delete.

System templates ship with the platform (migration 0002): they can be copied, never edited or deleted
(TEMPLATE_IS_SYSTEM, for every role). A copy belongs to the caller's organisation and starts inactive;
activating it makes it the one used for its (organisation, type, language), for that organisation's subtree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from tortoise.transactions import in_transaction

from models.email_templates import EmailTemplate
from models.organisations import Organisation
from resolvers import _scope, audit, email_rendering, outbox, ratelimit
from resolvers.actor import Actor
from resolvers.errors import KmsError, RateLimited
from resolvers.pagination import Page, paginate
from resolvers.validation import checked_language, checked_name
from settings import Settings

COPY_PREFIX = "COPY OF "
TEST_MAILS_PER_HOUR = 30


class TemplateIsSystem(KmsError):
    code = "TEMPLATE_IS_SYSTEM"

    def __init__(self) -> None:
        super().__init__("System templates cannot be changed or deleted. Create a copy and edit that instead.")


@dataclass(frozen=True)
class TemplateFilter:
    type: str | None = None
    active: bool | None = None
    language: str | None = None


@dataclass(frozen=True)
class TemplateChanges:
    name: str | None = None
    language: str | None = None
    subject: str | None = None
    body: str | None = None


async def _organisation_of(template: EmailTemplate) -> Organisation | None:
    org_id = template.organisation_id  # type: ignore[attr-defined]
    return await Organisation.get_or_none(id=org_id) if org_id else None


async def _record(action: str, actor: Actor, template: EmailTemplate, details: dict[str, object]) -> None:
    org = await _organisation_of(template)
    await audit.record(
        action,
        actor,
        organisation_id=org.id if org else None,
        organisation_path=org.path if org else None,
        target=f"email_template:{template.id}",
        details=details,
    )


async def list_templates(
    actor: Actor, flt: TemplateFilter, *, first: int | None, after: str | None
) -> Page[EmailTemplate]:
    query = _scope.email_templates(actor)
    if flt.type:
        query = query.filter(type=flt.type)
    if flt.active is not None:
        query = query.filter(active=flt.active)
    if flt.language:
        query = query.filter(language=flt.language)
    # per type and language the system template first, then the copies in the order they were made ("You'll
    # find your email template copied below the original", manual 9.9.3)
    return await paginate(query, ("type", "language", "-is_system", "created_at", "id"), first=first, after=after)


async def get_template(actor: Actor, template_id: str) -> EmailTemplate:
    return await _scope.email_template(actor, template_id)


def preview(template: EmailTemplate) -> email_rendering.RenderedEmail:
    return email_rendering.preview(template.type, template.subject, template.body, language=template.language)


async def copy_template(actor: Actor, template_id: str) -> EmailTemplate:
    source = await _scope.email_template(actor, template_id)
    async with in_transaction():
        copy = await EmailTemplate.create(
            name=(COPY_PREFIX + source.name)[:200],
            type=source.type,
            language=source.language,
            subject=source.subject,
            body=source.body,
            active=False,
            is_system=False,
            organisation_id=actor.organisation_id,
        )
        await _record("email_template.copied", actor, copy, {"sourceId": str(source.id), "name": copy.name})
    return copy


async def _deactivate_others(template: EmailTemplate, organisation_id: UUID) -> None:
    await (
        EmailTemplate.filter(
            organisation_id=organisation_id, type=template.type, language=template.language, active=True
        )
        .exclude(id=template.id)
        .update(active=False)
    )


async def activate_template(actor: Actor, template_id: str) -> EmailTemplate:
    """Make a copy the one in use for its organisation, type and language. Activating a system template
    retires the caller organisation's own active copy, so the inherited or system template applies again."""
    template = await _scope.email_template(actor, template_id)
    async with in_transaction():
        # Lock the organisation's templates of this kind (PostgreSQL), so two activations end with one active.
        owner = actor.organisation_id if template.is_system else template.organisation_id  # type: ignore[attr-defined]
        await EmailTemplate.filter(
            organisation_id=owner, type=template.type, language=template.language
        ).select_for_update()
        await _deactivate_others(template, owner)
        if not template.is_system and not template.active:
            template.active = True
            await template.save(update_fields=["active", "updated_at"])
        details: dict[str, object] = {"type": template.type, "language": template.language}
        await _record("email_template.activated", actor, template, details)
    return template


async def update_template(actor: Actor, template_id: str, changes: TemplateChanges) -> EmailTemplate:
    template = await _scope.email_template(actor, template_id)
    if template.is_system:
        raise TemplateIsSystem()
    updates: dict[str, object] = {}
    if changes.name is not None:
        updates["name"] = checked_name(changes.name)
    if changes.language is not None:
        updates["language"] = checked_language(changes.language)
    subject = template.subject if changes.subject is None else changes.subject
    body = template.body if changes.body is None else changes.body
    if changes.subject is not None or changes.body is not None:
        updates["body"] = email_rendering.validate_template(template.type, subject, body)
        updates["subject"] = email_rendering.normalise_subject(subject)
    async with in_transaction():
        for field, value in updates.items():
            setattr(template, field, value)
        await template.save()
        if template.active and "language" in updates:
            await _deactivate_others(template, template.organisation_id)  # type: ignore[attr-defined]
        await _record("email_template.updated", actor, template, {"fields": sorted(updates)})
    return template


async def delete_template(actor: Actor, template_id: str) -> bool:
    template = await _scope.email_template(actor, template_id)
    if template.is_system:
        raise TemplateIsSystem()
    async with in_transaction():
        await _record("email_template.deleted", actor, template, {"name": template.name, "type": template.type})
        await template.delete()
    return True


async def send_test_email(actor: Actor, template_id: str, to: str, settings: Settings) -> bool:
    """Render the template with sample values and queue it to ``to``."""
    template = await _scope.email_template(actor, template_id)
    address = outbox.checked_address(to, "to")
    window = int(timedelta(hours=1).total_seconds())
    used = await ratelimit.hit(f"test-mail:{actor.user_id}", window)
    if used.count > TEST_MAILS_PER_HOUR:
        raise RateLimited(used.retry_after, "Too many test emails. Please wait and try again.")
    async with in_transaction():
        await outbox.enqueue(
            template.type,
            to=address,
            language=template.language,
            organisation_id=actor.organisation_id,
            values=email_rendering.SAMPLE_VALUES[template.type],
            template=template,
            settings=settings,
        )
        await _record("email_template.test_sent", actor, template, {"type": template.type})
    return True
