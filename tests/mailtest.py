"""Helpers for tests that read mails: a real SMTP server, delivery through the outbox, links in mails."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage

from smtp_server import SmtpServer

from resolvers import outbox
from resolvers.smtp import Mailbox, MailboxEntry, SmtpSettings
from settings import Settings


def running_smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free port; test modules make it a fixture:
    ``smtp = pytest.fixture(running_smtp, name="smtp")``."""
    with SmtpServer() as server:
        yield server


def sender(server: SmtpServer) -> outbox.SmtpSender:
    return outbox.SmtpSender(SmtpSettings(host=server.host, port=server.port, tls="none", timeout=5))


async def deliver(server: SmtpServer, **kwargs) -> list[EmailMessage]:
    """Run the outbox worker once against ``server``; every mail that arrived so far."""
    await outbox.deliver_due(sender(server), **kwargs)
    return server.messages


def text_of(message: EmailMessage) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def html_of(message: EmailMessage) -> str:
    return str(message.get_body(preferencelist=("html",)).get_content())


def to_of(message: EmailMessage) -> str:
    return str(message["To"])


def token_in(message: EmailMessage, page: str) -> str:
    """The token of the ``<public url>/<page>?token=...`` link in a mail's text part."""
    found = re.search(rf"/{page}\?token=([A-Za-z0-9_\-]+)", text_of(message))
    assert found, text_of(message)
    return found.group(1)


def mails_to(server: SmtpServer, address: str) -> list[EmailMessage]:
    return [m for m in server.messages if to_of(m) == address]


# --- the demo mailbox (no SMTP server: the console's browser tests) -----------------------------------


async def deliver_to_mailbox(settings: Settings) -> int:
    """What the mail worker does, once (the browser tests' server runs with KMS_MAIL_WORKER=off): every due
    mail of the outbox goes to the demo mailbox in ``settings.mailbox_dir``. Returns how many were sent."""
    return await outbox.deliver_due(outbox.MailboxSender(Mailbox(settings.mailbox_dir)), batch=100, settings=settings)


async def mailbox_mails(settings: Settings, to: str) -> list[MailboxEntry]:
    """Deliver what is due, then the demo mailbox's mails to ``to``, newest first."""
    await deliver_to_mailbox(settings)
    return [m for m in Mailbox(settings.mailbox_dir).latest(1000) if m.to == to]


async def delivered_mail(settings: Settings, to: str) -> MailboxEntry:
    """Deliver what is due; the newest mail to ``to`` in the demo mailbox."""
    mails = await mailbox_mails(settings, to)
    assert mails, f"no mail to {to} in {settings.mailbox_dir}"
    return mails[0]


def link_in(mail: MailboxEntry, page: str) -> str:
    """The ``<public url>/<page>?token=…`` link of a demo-mailbox mail's text part."""
    found = re.search(rf"https?://[^\s/]+/{page}\?token=[A-Za-z0-9_\-]+", mail.text)
    assert found, mail.text
    return found.group(0)
