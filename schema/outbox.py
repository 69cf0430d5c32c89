"""GraphQL of the demo mailbox: the mails written as files when no SMTP server is configured."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.types import Info

from resolvers import outbox
from resolvers.roles import Permission
from schema.permissions import requires

# Mails of every organisation land in the one demo mailbox: platform administrators only.
PLATFORM = Permission.SEE_ALL_ORGANISATIONS


@strawberry.enum
class MailTransport(enum.Enum):
    SMTP = "SMTP"
    DEMO_MAILBOX = "DEMO_MAILBOX"


@strawberry.type
class DemoMail:
    """A mail of the demo mailbox (``kms mailbox`` prints the same)."""

    id: strawberry.ID
    sent_at: datetime
    to: str
    subject: str
    text: str
    html: str = strawberry.field(description="The HTML part as sent; show it sanitised, never as markup of a page.")

    @classmethod
    def of(cls, mail: outbox.DemoMail) -> DemoMail:
        return cls(
            id=strawberry.ID(mail.id),
            sent_at=mail.sent_at,
            to=mail.to,
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
        )


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires(PLATFORM),
        description="How mails leave the service: by SMTP, or into the demo mailbox when no SMTP server is set.",
    )
    def mail_transport(self) -> MailTransport:
        return MailTransport.SMTP if outbox.smtp_configured() else MailTransport.DEMO_MAILBOX

    @strawberry.field(
        extensions=requires(PLATFORM),
        description="The latest mails of the demo mailbox, newest first (at most 100); empty when SMTP is configured.",
    )
    async def demo_mailbox(self, info: Info, first: int = 20) -> list[DemoMail]:
        return [DemoMail.of(m) for m in await outbox.demo_mailbox(info.context.settings, first)]

    @strawberry.field(extensions=requires(PLATFORM), description="One mail of the demo mailbox.")
    async def demo_mail(self, info: Info, id: strawberry.ID) -> DemoMail:
        return DemoMail.of(await outbox.demo_mail(info.context.settings, str(id)))
