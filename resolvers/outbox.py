"""The mail outbox: mails are rows first, written in the transaction of the change that causes them, and a
worker sends them.

``enqueue`` picks the template (the organisation's active one for the type and language, else its parents',
up the tree, else the system template of that language, else English), renders it and stores subject, HTML
and text. ``deliver_due`` claims due rows so that several workers never send one mail twice (row locks with
SKIP LOCKED on PostgreSQL, a guarded UPDATE on SQLite), sends them and marks them SENT, or schedules a retry
with exponential backoff, or marks them FAILED after the last try or a permanent refusal. Bodies are cleared
once a mail is sent or has failed: they carry single-use links. A claim is a lease (``locked_until``): a
worker killed while sending leaves the row to be claimed again when the lease ends.

``demo_mailbox`` and ``demo_mail`` read the demo mailbox (the ``.eml`` files written when no SMTP server is
configured) for the console's Developer > Demo mailbox screen.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Final, Protocol
from uuid import UUID

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import db
from models.email_templates import EmailTemplate
from models.organisations import Organisation
from models.outbox import OutboxMessage
from models.users import User
from resolvers import audit, email_rendering, housekeeping
from resolvers.errors import BadInput, NotFound
from resolvers.smtp import DEFAULT_SENDER, Mailbox, SmtpSendError, SmtpSettings, send_email
from settings import Settings, load

log = logging.getLogger("kms.outbox")

PENDING: Final = "PENDING"
SENT: Final = "SENT"
FAILED: Final = "FAILED"
# Longer than one SMTP conversation can take (timeouts of 10 s per stage), so a live worker keeps its claim.
LEASE: Final = timedelta(minutes=5)
BACKOFF_BASE_SECONDS: Final = 30
BACKOFF_CAP: Final = timedelta(hours=4)
DEFAULT_MAX_ATTEMPTS: Final = 8
_WORKER_LABEL: Final = "mail-worker"


class Sender(Protocol):
    """Delivers one mail; raises ``SmtpSendError`` (``permanent`` or not) or any other error to retry."""

    async def send(self, to: str, subject: str, html: str, text: str, message_id: str) -> None: ...


@dataclass(frozen=True)
class SmtpSender:
    settings: SmtpSettings

    async def send(self, to: str, subject: str, html: str, text: str, message_id: str) -> None:
        await send_email(self.settings, to=to, subject=subject, html=html, text=text, message_id=message_id)


@dataclass(frozen=True)
class MailboxSender:
    """The demo transport: mails become files in ``<data_dir>/mailbox`` (``kms mailbox`` prints them)."""

    mailbox: Mailbox

    async def send(self, to: str, subject: str, html: str, text: str, message_id: str) -> None:
        await self.mailbox.deliver(to=to, subject=subject, html=html, text=text, message_id=message_id)


def sender_for(settings: Settings) -> Sender:
    """SMTP when ``KMS_SMTP_HOST`` is set, else the demo mailbox."""
    smtp = SmtpSettings.from_env()
    if smtp is not None:
        return SmtpSender(smtp)
    return MailboxSender(Mailbox(settings.mailbox_dir))


def _now() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """How times appear in mails: ``2026-03-14 17:00 UTC``."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def checked_address(value: str, field: str = "email") -> str:
    """``value`` trimmed, if it is an address mail can go to: something before one "@", a dot in the domain,
    at most 320 characters, no white space and none of ``<>,;"``, with which one header names several
    addresses. Else BAD_USER_INPUT on ``field``. Users, invites and test mails check their addresses here."""
    address = value.strip()
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "@" in local
        or "." not in domain
        or len(address) > 320
        or any(c.isspace() or c in '<>,;"' for c in address)
    ):
        raise BadInput(field, "This is not a valid email address.")
    return address


def support_email(settings: Settings) -> str:
    """``KMS_SUPPORT_EMAIL``, else the address mails come from."""
    if settings.support_email:
        return settings.support_email
    smtp = SmtpSettings.from_env()
    sender = smtp.sender if smtp else DEFAULT_SENDER
    return sender.rsplit("<", 1)[-1].rstrip(">").strip()


# --- which template ---------------------------------------------------------------------------------------


def _ancestors(path: str) -> list[UUID]:
    """Organisation ids of a materialised path, nearest first ("/a/b/c/" -> [c, b, a])."""
    return [UUID(part) for part in reversed(path.strip("/").split("/")) if part]


async def resolve_template(email_type: str, language: str, organisation_id: UUID | None) -> EmailTemplate:
    """The template a mail of ``email_type`` in ``language`` to a member of the organisation is written with."""
    language = language.upper() if language.upper() in email_rendering.LANGUAGES else email_rendering.DEFAULT_LANGUAGE
    if organisation_id is not None:
        organisation = await Organisation.get_or_none(id=organisation_id).only("id", "path")
        chain = _ancestors(organisation.path) if organisation else []
        if chain:
            candidates = await EmailTemplate.filter(
                organisation_id__in=chain, type=email_type, language=language, active=True, is_system=False
            ).order_by("-updated_at", "id")
            by_org: dict[UUID, EmailTemplate] = {}
            for candidate in candidates:
                by_org.setdefault(candidate.organisation_id, candidate)  # type: ignore[attr-defined]
            for org_id in chain:
                if org_id in by_org:
                    return by_org[org_id]
    for lang in dict.fromkeys((language, email_rendering.DEFAULT_LANGUAGE)):
        system = await EmailTemplate.filter(is_system=True, type=email_type, language=lang).order_by("id").first()
        if system is not None:
            return system
    raise RuntimeError(f"no system template for {email_type}; run `kms migrate`")


def common_values(settings: Settings | None = None) -> dict[str, str]:
    """Values every mail may use."""
    settings = settings or load()
    return {"data_year": str(_now().year), "support_email": support_email(settings)}


def render(template: EmailTemplate, values: Mapping[str, str], language: str) -> email_rendering.RenderedEmail:
    return email_rendering.render(template.type, template.subject, template.body, values, language=language)


async def enqueue(
    email_type: str,
    *,
    to: str,
    language: str,
    organisation_id: UUID | None,
    values: Mapping[str, str],
    recipient_user_id: UUID | None = None,
    template: EmailTemplate | None = None,
    settings: Settings | None = None,
) -> OutboxMessage:
    """Render a mail and store it in the outbox. Call it inside the transaction of the change that causes
    the mail: both commit together, or neither does."""
    template = template or await resolve_template(email_type, language, organisation_id)
    full = {**common_values(settings), **values}
    try:
        rendered = render(template, full, language)
    except email_rendering.TemplateInvalid:
        if template.is_system:
            raise
        # A customised template that no longer renders must not cost the recipient the mail.
        log.warning("template %s does not render; the system template is used", template.id)
        template = await resolve_template(email_type, language, None)
        rendered = render(template, full, language)
    return await OutboxMessage.create(
        id=uuid.uuid4(),
        to=to,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        email_type=email_type,
        template_id=template.id,
        recipient_user_id=recipient_user_id,
        organisation_id=organisation_id,
        status=PENDING,
        attempts=0,
        next_attempt_at=await db.clock(),  # due at once by the clock the workers read, whatever this host's says
    )


async def mail_user(
    email_type: str, user: User, values: Mapping[str, str], *, to: str | None = None, settings: Settings | None = None
) -> OutboxMessage:
    """Queue a mail to a user, in the user's language, with the user's organisation's template."""
    return await enqueue(
        email_type,
        to=to or user.email,
        language=user.language,
        organisation_id=user.organisation_id,  # type: ignore[attr-defined]
        values={"user_name": user.name, **values},
        recipient_user_id=user.id,
        settings=settings,
    )


async def notify_password_changed(user: User) -> None:
    """The PASSWORD_CHANGED mail that follows every password change."""
    changed_at = user.password_changed_at or _now()
    await mail_user("PASSWORD_CHANGED", user, {"changed_at": format_time(changed_at)})


# --- the worker -------------------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return Q(status=PENDING, next_attempt_at__lte=now) & (Q(locked_until__isnull=True) | Q(locked_until__lt=now))


async def _claim(batch: int, now: datetime) -> list[OutboxMessage]:
    lease_until = now + LEASE
    if db.dialect() == "postgres":
        # Rows another worker holds are skipped, not waited for; the lease is written before the commit.
        async with in_transaction():
            rows = list(
                await OutboxMessage.filter(_due(now))
                .order_by("next_attempt_at", "id")
                .limit(batch)
                .select_for_update(skip_locked=True)
            )
            if rows:
                await OutboxMessage.filter(id__in=[r.id for r in rows]).update(locked_until=lease_until)
        for row in rows:
            row.locked_until = lease_until  # this worker's lease, which _renew and the outcomes check
        return rows
    # SQLite has no row locks: each claim is one UPDATE whose WHERE repeats the "due and free" test, and
    # writes are serialised, so of two workers only one sees its UPDATE change the row.
    candidates = await OutboxMessage.filter(_due(now)).order_by("next_attempt_at", "id").limit(batch)
    claimed = []
    for row in candidates:
        if await OutboxMessage.filter(Q(id=row.id) & _due(now)).update(locked_until=lease_until):
            row.locked_until = lease_until
            claimed.append(row)
    return claimed


def _held(row: OutboxMessage) -> Q:
    """The row as this worker left it: still pending under this worker's lease. A lease that ran out while
    earlier mails of the batch were sent may have been taken by another worker, which then owns the row."""
    return Q(id=row.id, status=PENDING, locked_until=row.locked_until)


async def _renew(row: OutboxMessage) -> bool:
    """Just before sending: extend the lease, if this worker still holds it (a batch's lease is taken at the
    claim, so a mail late in a slow batch is checked again here instead of being sent by two workers)."""
    lease_until = await db.clock() + LEASE
    if not await OutboxMessage.filter(_held(row)).update(locked_until=lease_until):
        log.warning("mail %s was taken over by another worker after this one's lease ran out; not sent", row.id)
        return False
    row.locked_until = lease_until
    return True


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=BACKOFF_BASE_SECONDS * 2**attempts), BACKOFF_CAP)


async def _audit(action: str, row: OutboxMessage, details: dict[str, object]) -> None:
    organisation = (
        await Organisation.get_or_none(id=row.organisation_id).only("id", "path") if row.organisation_id else None
    )
    await audit.record(
        action,
        None,
        actor_label=_WORKER_LABEL,
        organisation_id=organisation.id if organisation else None,
        organisation_path=organisation.path if organisation else None,
        target=f"user:{row.recipient_user_id}" if row.recipient_user_id else f"mail:{row.id}",
        details={
            "mailId": str(row.id),
            "type": row.email_type,
            "templateId": str(row.template_id) if row.template_id else None,
            "recipientUserId": str(row.recipient_user_id) if row.recipient_user_id else None,
            **details,
        },
    )


async def _mark_sent(row: OutboxMessage) -> None:
    async with in_transaction():
        if await OutboxMessage.filter(_held(row)).update(
            status=SENT, html="", text="", sent_at=_now(), locked_until=None, attempts=row.attempts + 1, last_error=None
        ):
            await _audit("mail.sent", row, {"attempts": row.attempts + 1})


async def _mark_failed_attempt(row: OutboxMessage, error: str, *, permanent: bool, max_attempts: int) -> None:
    attempts = row.attempts + 1
    async with in_transaction():
        if permanent or attempts >= max_attempts:
            if await OutboxMessage.filter(_held(row)).update(
                status=FAILED, html="", text="", attempts=attempts, locked_until=None, last_error=error[:500]
            ):
                await _audit("mail.failed", row, {"attempts": attempts, "error": error[:500]})
        else:
            retry_at = await db.clock() + _backoff(attempts)
            await OutboxMessage.filter(_held(row)).update(
                attempts=attempts, locked_until=None, last_error=error[:500], next_attempt_at=retry_at
            )


async def _deliver(sender: Sender, row: OutboxMessage, max_attempts: int) -> bool:
    if not await _renew(row):
        return False
    try:
        # The id makes the Message-ID stable across retries, so a receiver can drop a duplicate.
        await sender.send(row.to, row.subject, row.html, row.text, f"<{row.id}@meter-kms.outbox>")
    except SmtpSendError as exc:
        log.warning("mail %s not sent (attempt %s): %s", row.id, row.attempts + 1, exc.message)
        await _mark_failed_attempt(row, exc.message, permanent=exc.permanent, max_attempts=max_attempts)
        return False
    except ValueError as exc:  # a subject or header the transport refuses will never go through
        log.warning("mail %s cannot be sent: %s", row.id, exc)
        await _mark_failed_attempt(row, str(exc), permanent=True, max_attempts=max_attempts)
        return False
    except Exception as exc:  # network, file system: try again later
        log.warning("mail %s not sent (attempt %s): %s", row.id, row.attempts + 1, type(exc).__name__)
        await _mark_failed_attempt(row, type(exc).__name__, permanent=False, max_attempts=max_attempts)
        return False
    await _mark_sent(row)
    return True


async def deliver_due(
    sender: Sender,
    *,
    batch: int = 20,
    now: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    settings: Settings | None = None,
) -> int:
    """Turn queued password-reset requests into mails, then claim up to ``batch`` due mails, send them and
    record the outcome; returns how many mails were claimed. Leases and retries are timed by the database's
    clock (``now`` stands in for it in tests): the workers of hosts whose clocks differ still agree on whose
    lease has run out."""
    # Imported here: resolvers.accounts queues its mails through this module.
    from resolvers import accounts

    try:
        await accounts.prepare_reset_mails(settings or load())
    except Exception:  # the mails already queued still go out
        log.exception("mail worker: preparing reset mails failed")
    rows = await _claim(batch, now or await db.clock())
    for row in rows:
        await _deliver(sender, row, max_attempts)
    return len(rows)


async def run_worker(settings: Settings, stop: asyncio.Event, *, sender: Sender | None = None) -> None:
    """Send due mails until ``stop`` is set; a full batch is followed at once by the next one. Every
    ``housekeeping.SWEEP_EVERY`` it also sweeps ended sessions, old counters and old mail links."""
    sender = sender or sender_for(settings)
    log.info("mail worker started (%s)", type(sender).__name__)
    batch = 20
    next_sweep = time.monotonic()
    while not stop.is_set():
        if time.monotonic() >= next_sweep:
            next_sweep = time.monotonic() + housekeeping.SWEEP_EVERY.total_seconds()
            try:
                await housekeeping.sweep(settings)
            except Exception:  # like a delivery round: the next sweep tries again
                log.exception("mail worker: housekeeping failed")
        try:
            claimed = await deliver_due(sender, batch=batch, max_attempts=settings.mail_max_attempts, settings=settings)
        except Exception:  # the database may be away for a moment; the worker must outlive that
            log.exception("mail worker: delivery round failed")
            claimed = 0
        if claimed >= batch:
            continue
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.mail_poll_seconds)
        except TimeoutError:
            pass
    log.info("mail worker stopped")


# --- the demo mailbox -------------------------------------------------------------------------------------

DEMO_MAILBOX_MAX: Final = 100
# Mailbox file names: a 20-digit nanosecond timestamp, a dash and 8 hex digits (resolvers/smtp.py).
_DEMO_MAIL_ID: Final = re.compile(r"\A[0-9]{20}-[0-9a-f]{8}\Z")


@dataclass(frozen=True)
class DemoMail:
    """One mail of the demo mailbox; ``id`` is its file name without ``.eml``."""

    id: str
    sent_at: datetime
    to: str
    subject: str
    text: str
    html: str


def smtp_configured() -> bool:
    """Whether mails go out by SMTP (``KMS_SMTP_HOST`` set); else they go to the demo mailbox."""
    return SmtpSettings.from_env() is not None


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    return str(part.get_content()) if part is not None else ""


def _read_demo_mail(path: Path) -> DemoMail:
    with path.open("rb") as fh:
        message = BytesParser(policy=policy.default).parse(fh)
    try:
        sent_at = parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError):
        sent_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    is_mail = isinstance(message, EmailMessage)
    return DemoMail(
        id=path.stem,
        sent_at=sent_at,
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        text=_part(message, "plain") if is_mail else "",
        html=_part(message, "html") if is_mail else "",
    )


def _latest_demo_mails(directory: Path, first: int) -> list[DemoMail]:
    mailbox = Mailbox(directory)
    mails = []
    for entry in mailbox.latest(first):
        try:
            mails.append(_read_demo_mail(entry.path))
        except FileNotFoundError:  # removed meanwhile
            continue
    return mails


async def demo_mailbox(settings: Settings, first: int = 20) -> list[DemoMail]:
    """The latest mails of the demo mailbox, newest first; empty when SMTP is configured (there is none)."""
    if smtp_configured():
        return []
    count = max(0, min(first, DEMO_MAILBOX_MAX))
    return await asyncio.to_thread(_latest_demo_mails, settings.mailbox_dir, count)


def _one_demo_mail(directory: Path, mail_id: str) -> DemoMail | None:
    path = directory / f"{mail_id}{Mailbox.SUFFIX}"
    try:
        return _read_demo_mail(path)
    except FileNotFoundError:
        return None


async def demo_mail(settings: Settings, mail_id: str) -> DemoMail:
    """One mail of the demo mailbox by its id; NOT_FOUND for an unknown id or when SMTP is configured."""
    if smtp_configured() or not _DEMO_MAIL_ID.match(mail_id):
        raise NotFound("Mail")
    found = await asyncio.to_thread(_one_demo_mail, settings.mailbox_dir, mail_id)
    if found is None:
        raise NotFound("Mail")
    return found
