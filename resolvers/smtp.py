"""Outgoing e-mail: SMTP delivery via the ``emails`` package and a file mailbox for demos.

``send_email`` builds a multipart/alternative (text + HTML) message with ``emails`` and
hands it to an SMTP server. ``emails`` 1.1 only ships a blocking SMTP backend unless the
optional ``aiosmtplib`` extra is installed (it is not a dependency of this project), so the
blocking send runs in a worker thread via :func:`asyncio.to_thread`.

Unlike the stock ``emails``/``smtplib`` behaviour, STARTTLS and implicit TLS (``ssl``)
connections verify the server certificate and host name against the system trust store:
the mails carry secret links and must not be readable by a man in the middle.

Failures are reported as :class:`SmtpSendError`. Its message names the server, the SMTP
stage and the server's reply, but never the mail body (which carries secret links) nor
the SMTP password.

:class:`Mailbox` is a stand-in transport for demos without an SMTP server: it writes each
mail as an RFC 5322 ``.eml`` file into a directory and lists the latest ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import smtplib
import socket
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any, Final

from emails.backend.smtp.backend import SMTPBackend
from emails.backend.smtp.client import SMTPClientWithResponse
from emails.message import Message
from emails.message import html as html_message

__all__ = [
    "DEFAULT_SENDER",
    "TLS_MODES",
    "Mailbox",
    "MailboxEntry",
    "SmtpSendError",
    "SmtpSettings",
    "send_email",
]

logger = logging.getLogger(__name__)

DEFAULT_SENDER: Final = "Meter KMS <no-reply@example.com>"
TLS_MODES: Final = ("none", "starttls", "ssl")

_SERVER_TEXT_LIMIT: Final = 200
_WHITESPACE = re.compile(r"\s+")


class SmtpSendError(Exception):
    """Sending a mail failed.

    The message is safe to log: it never contains the mail body or the SMTP password.

    Attributes:
        permanent: True when the server rejected this particular mail (5xx reply to
            MAIL FROM, RCPT TO or DATA, or an unusable recipient address); retrying the
            same mail will not help. False for connection problems, timeouts, TLS or
            authentication failures and 4xx replies, which may go away on a later attempt.
        code: The SMTP reply code when the server sent one, else None.
    """

    def __init__(self, message: str, permanent: bool, *, code: int | None = None) -> None:
        """Create the error.

        Args:
            message: Human-readable description (without body or password).
            permanent: Whether retrying the same mail is pointless.
            code: The SMTP reply code, if any.
        """
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code


def _has_newline(value: str) -> bool:
    return "\r" in value or "\n" in value


def _split_address(value: str) -> tuple[str, str] | None:
    """Parse a single ``addr`` or ``Name <addr>``; None if it is not exactly one address."""
    if not value or _has_newline(value) or len(getaddresses([value])) != 1:
        return None
    name, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in addr):
        return None
    return name, addr


@dataclass(frozen=True)
class SmtpSettings:
    """Connection settings for the outgoing SMTP server.

    Attributes:
        host: SMTP server host name or IP address.
        port: TCP port (587 for submission with STARTTLS, 465 for implicit TLS).
        tls: ``"starttls"`` (upgrade a plain connection), ``"ssl"`` (implicit TLS) or
            ``"none"`` (plain text; only for local relays and tests).
        user: Login name; None to skip SMTP AUTH.
        password: Login password; never shown in ``repr``.
        sender: The From address, ``addr`` or ``Name <addr>``.
        timeout: Socket timeout in seconds for each SMTP network operation.
    """

    host: str
    port: int = 587
    tls: str = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_SENDER
    timeout: float = 10.0

    def __post_init__(self) -> None:
        """Validate the settings.

        Raises:
            ValueError: If a setting is unusable (the message never contains the password).
        """
        if not self.host or _has_newline(self.host) or any(c.isspace() for c in self.host):
            raise ValueError(f"invalid SMTP host {self.host!r}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"invalid SMTP port {self.port!r}")
        if self.tls not in TLS_MODES:
            raise ValueError(f"invalid SMTP TLS mode {self.tls!r}, expected one of {', '.join(TLS_MODES)}")
        if (self.user is None) != (self.password is None):
            raise ValueError("SMTP user and password must be given together")
        if self.timeout <= 0:
            raise ValueError(f"invalid SMTP timeout {self.timeout!r}")
        if _split_address(self.sender) is None:
            raise ValueError(f"invalid sender address {self.sender!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """Read the settings from ``KMS_SMTP_*`` environment variables.

        Variables: ``KMS_SMTP_HOST`` (required), ``KMS_SMTP_PORT`` (default 465 for
        ``ssl``, else 587), ``KMS_SMTP_TLS`` (``none``/``starttls``/``ssl``, default
        ``starttls``), ``KMS_SMTP_USER``, ``KMS_SMTP_PASSWORD`` and ``KMS_SMTP_SENDER``.
        Empty values count as unset.

        Args:
            environ: The environment; defaults to ``os.environ``.

        Returns:
            The settings, or None when ``KMS_SMTP_HOST`` is unset (mail via SMTP disabled).

        Raises:
            ValueError: If a variable has an invalid value.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        host = get("KMS_SMTP_HOST")
        if host is None:
            return None
        tls = (get("KMS_SMTP_TLS") or "starttls").lower()
        port_text = get("KMS_SMTP_PORT")
        if port_text is None:
            port = 465 if tls == "ssl" else 587
        else:
            try:
                port = int(port_text)
            except ValueError:
                raise ValueError(f"KMS_SMTP_PORT must be an integer, got {port_text!r}") from None
        # The password is taken verbatim: leading/trailing spaces may be part of it.
        password = env.get("KMS_SMTP_PASSWORD") or None
        return cls(
            host=host,
            port=port,
            tls=tls,
            user=get("KMS_SMTP_USER"),
            password=password,
            sender=get("KMS_SMTP_SENDER") or DEFAULT_SENDER,
        )


class _VerifyingClient(SMTPClientWithResponse):
    """``emails`` SMTP client whose STARTTLS verifies the server certificate.

    ``smtplib`` (and therefore ``emails``) upgrades with an unverified TLS context when
    none is given; this passes :func:`ssl.create_default_context` instead.
    """

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """Upgrade the connection with a verifying TLS context.

        Args:
            *args: Passed to :meth:`smtplib.SMTP.starttls`.
            **kwargs: Passed to :meth:`smtplib.SMTP.starttls`; ``context`` defaults to a
                verifying context.

        Returns:
            The server's reply to STARTTLS.
        """
        kwargs.setdefault("context", ssl.create_default_context())
        return super().starttls(*args, **kwargs)


class _VerifyingSslClient(_VerifyingClient):
    """Implicit-TLS (SMTPS) client that verifies the server certificate.

    Replaces ``emails``' SSL client, which uses an unverified context and connects twice.
    """

    default_port = smtplib.SMTP_SSL_PORT

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((host, port), timeout, self.source_address)
        try:
            return ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise


class _Backend(SMTPBackend):
    """``emails`` SMTP backend using the verifying clients above."""

    connection_cls = _VerifyingClient
    # Not a subclass of emails' SMTPClientWithResponse_SSL on purpose (see above).
    connection_ssl_cls = _VerifyingSslClient  # type: ignore[assignment]


def _server_text(text: bytes | str) -> str:
    """Server reply text, decoded, on one line and shortened."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = _WHITESPACE.sub(" ", text).strip()
    if len(text) > _SERVER_TEXT_LIMIT:
        text = text[:_SERVER_TEXT_LIMIT] + "..."
    return text


def _reply_error(stage: str, where: str, code: int, text: bytes | str) -> SmtpSendError:
    return SmtpSendError(
        f"{stage} rejected by {where}: {code} {_server_text(text)}",
        permanent=500 <= code < 600,
        code=code,
    )


def _translate(exc: BaseException, settings: SmtpSettings) -> SmtpSendError:
    """Map an ``smtplib``/socket exception to an :class:`SmtpSendError`."""
    where = f"SMTP server {settings.host}:{settings.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        address, (code, text) = next(iter(exc.recipients.items()))
        return _reply_error(f"recipient {address}", where, code, text)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _reply_error(f"sender {exc.sender}", where, exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPDataError):
        return _reply_error("message", where, exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SmtpSendError(
            f"authentication as {settings.user!r} failed at {where}: {exc.smtp_code} {_server_text(exc.smtp_error)}",
            permanent=False,
            code=exc.smtp_code,
        )
    if isinstance(exc, smtplib.SMTPResponseException):  # connect / HELO / other replies
        return SmtpSendError(
            f"{where} replied {exc.smtp_code} {_server_text(exc.smtp_error)}",
            permanent=False,
            code=exc.smtp_code,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SmtpSendError(f"{where}: {exc}", permanent=False)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports read timeouts and resets as "disconnected"; the cause is the context.
        if isinstance(exc.__context__, TimeoutError):
            return SmtpSendError(f"timed out talking to {where}", permanent=False)
        return SmtpSendError(f"{where} closed the connection: {_server_text(str(exc))}", permanent=False)
    if isinstance(exc, smtplib.SMTPException):
        return SmtpSendError(f"SMTP error from {where}: {type(exc).__name__}", permanent=False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SmtpSendError(
            f"TLS certificate of {where} not trusted: {exc.verify_message or exc.reason}", permanent=False
        )
    if isinstance(exc, ssl.SSLError):
        return SmtpSendError(f"TLS error with {where}: {exc.reason or type(exc).__name__}", permanent=False)
    if isinstance(exc, TimeoutError):
        return SmtpSendError(f"timed out talking to {where}", permanent=False)
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        return SmtpSendError(f"cannot connect to {where}: {reason}", permanent=False)
    return SmtpSendError(f"unexpected error sending via {where}: {type(exc).__name__}", permanent=False)


def _send_blocking(settings: SmtpSettings, message: Message, to: str) -> None:
    """Deliver ``message`` to ``to`` over one SMTP connection (blocking)."""
    backend = _Backend(
        host=settings.host,
        port=settings.port,
        ssl=settings.tls == "ssl",
        tls=settings.tls == "starttls",
        user=settings.user,
        password=settings.password,
        timeout=settings.timeout,
        fail_silently=False,
    )
    try:
        response = message.send(to=to, smtp=backend)
    except (smtplib.SMTPException, OSError) as exc:
        raise _translate(exc, settings) from exc
    finally:
        try:
            backend.close()
        except (smtplib.SMTPException, OSError):  # the mail is already accepted (or failed)
            logger.debug("error closing SMTP connection to %s:%s", settings.host, settings.port)
    if response is None or not response.success:
        code = getattr(response, "status_code", None)
        raise SmtpSendError(
            f"SMTP server {settings.host}:{settings.port} did not accept the message (status {code})",
            permanent=False,
            code=code,
        )


def _check_message_args(to: str, subject: str, message_id: str | None) -> tuple[str, str]:
    """Validate the header inputs shared by SMTP and mailbox delivery.

    Returns:
        The recipient's bare address and the Message-ID to use.
    """
    parsed = _split_address(to)
    if parsed is None:
        raise SmtpSendError(f"invalid recipient address {to!r}", permanent=True)
    if _has_newline(subject):
        raise ValueError("subject must not contain line breaks")
    if message_id is not None and (_has_newline(message_id) or not message_id.strip()):
        raise ValueError("invalid Message-ID")
    return parsed[1], message_id or ""


async def send_email(
    settings: SmtpSettings,
    *,
    to: str,
    subject: str,
    html: str,
    text: str,
    message_id: str | None = None,
) -> None:
    """Send one multipart/alternative (text + HTML) mail through SMTP.

    Args:
        settings: The SMTP server to use.
        to: The recipient, ``addr`` or ``Name <addr>``.
        subject: The subject (any Unicode; encoded as needed).
        html: The HTML body.
        text: The plain-text body.
        message_id: The Message-ID header (``<...@...>``); generated when None.

    Raises:
        SmtpSendError: If the mail was not accepted by the server; ``permanent`` tells
            whether a retry can help. The message never contains the body or password.
        ValueError: If ``subject`` or ``message_id`` contain line breaks.
    """
    _, mid = _check_message_args(to, subject, message_id)
    sender = _split_address(settings.sender)
    assert sender is not None  # validated in SmtpSettings
    if not mid:
        mid = make_msgid(domain=sender[1].rpartition("@")[2])
    message = html_message(
        html=html,
        text=text,
        subject=subject,
        mail_from=sender,
        message_id=mid,
    )
    await asyncio.to_thread(_send_blocking, settings, message, to)
    logger.info("mail %s sent via %s:%s", mid, settings.host, settings.port)


@dataclass(frozen=True)
class MailboxEntry:
    """One mail stored in a :class:`Mailbox`.

    Attributes:
        path: The ``.eml`` file.
        to: The To header.
        subject: The decoded subject.
        date: The Date header (file modification time if it is missing or invalid).
        text: The plain-text body.
    """

    path: Path
    to: str
    subject: str
    date: datetime
    text: str


class Mailbox:
    """File-based stand-in for SMTP: one ``.eml`` file per mail in a directory.

    File names start with a nanosecond timestamp, so they sort in delivery order. Files
    are created with mode 0600 (mails carry secret links) and written atomically.
    """

    SUFFIX: Final = ".eml"

    def __init__(self, directory: Path, sender: str = DEFAULT_SENDER) -> None:
        """Create the mailbox; the directory is created on first delivery.

        Args:
            directory: Where the ``.eml`` files go.
            sender: The From address written into the mails.

        Raises:
            ValueError: If ``sender`` is not a valid address.
        """
        if _split_address(sender) is None:
            raise ValueError(f"invalid sender address {sender!r}")
        self.directory = Path(directory)
        self.sender = sender

    def __repr__(self) -> str:
        """Return a debugging representation."""
        return f"Mailbox({str(self.directory)!r})"

    async def deliver(
        self,
        *,
        to: str,
        subject: str,
        html: str,
        text: str,
        message_id: str | None = None,
    ) -> Path:
        """Store one multipart/alternative mail as an ``.eml`` file.

        Takes the same arguments as :func:`send_email` (without settings).

        Args:
            to: The recipient, ``addr`` or ``Name <addr>``.
            subject: The subject.
            html: The HTML body.
            text: The plain-text body.
            message_id: The Message-ID header; generated when None.

        Returns:
            The path of the new file.

        Raises:
            SmtpSendError: If the recipient address is invalid (permanent).
            ValueError: If ``subject`` or ``message_id`` contain line breaks.
            OSError: If the file cannot be written.
        """
        _check_message_args(to, subject, message_id)
        sender = _split_address(self.sender)
        assert sender is not None  # validated in __init__
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = message_id or make_msgid(domain=sender[1].rpartition("@")[2])
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        data = msg.as_bytes(policy=policy.SMTP)
        return await asyncio.to_thread(self._write, data)

    def _write(self, data: bytes) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{secrets.token_hex(4)}{self.SUFFIX}"
        target = self.directory / name
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def latest(self, n: int = 10) -> list[MailboxEntry]:
        """Return the ``n`` most recently delivered mails, newest first.

        This reads files synchronously; from async code call it via ``asyncio.to_thread``.

        Args:
            n: How many mails to return at most.

        Returns:
            The entries; empty if the directory does not exist.
        """
        if n <= 0 or not self.directory.is_dir():
            return []
        paths = sorted(
            (p for p in self.directory.iterdir() if p.suffix == self.SUFFIX and not p.name.startswith(".")),
            key=lambda p: p.name,
            reverse=True,
        )
        entries: list[MailboxEntry] = []
        for path in paths:
            if len(entries) >= n:
                break
            try:
                entries.append(self._read(path))
            except FileNotFoundError:  # removed meanwhile
                continue
        return entries

    @staticmethod
    def _read(path: Path) -> MailboxEntry:
        with path.open("rb") as fh:
            msg = BytesParser(policy=policy.default).parse(fh)
        try:
            date = parsedate_to_datetime(str(msg["Date"]))
        except (TypeError, ValueError):
            date = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        body = msg.get_body(preferencelist=("plain",)) if isinstance(msg, EmailMessage) else None
        text = str(body.get_content()) if body is not None else ""
        return MailboxEntry(
            path=path,
            to=str(msg.get("To", "")),
            subject=str(msg.get("Subject", "")),
            date=date,
            text=text,
        )
