"""A real SMTP server for tests, based on aiosmtpd.

Usage::

    with SmtpServer() as server:
        ...  # send to server.host:server.port
        (msg,) = server.wait_for(1)

The aiosmtpd controller runs its own event loop in a daemon thread, so the server is
usable from sync and async tests alike. Received mails are parsed with
``email.policy.default`` into :class:`email.message.EmailMessage` objects.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ReceivedMail:
    """One mail accepted by the server."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


class _Handler:
    """aiosmtpd handler collecting mails; can refuse recipients."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.received: list[ReceivedMail] = []
        self.refusals: dict[str, str] = {}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        with self.cond:
            refusal = self.refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            message=message,
            raw=raw,
        )
        with self.cond:
            self.received.append(mail)
            self.cond.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server on 127.0.0.1 and a free port, for tests.

    Args:
        host: Address to listen on.
        port: Port to listen on; a free one is picked when None.
        credentials: If given, the server offers AUTH PLAIN/LOGIN (without TLS) and
            accepts exactly these ``{user: password}`` logins. AUTH is not required.
        tls_context: If given, the server offers STARTTLS with this context.
        ssl_context: If given, the server speaks implicit TLS (SMTPS) with this context.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        credentials: dict[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.credentials = credentials
        self.tls_context = tls_context
        self.ssl_context = ssl_context
        self.handler = _Handler()
        self._controller: Controller | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> SmtpServer:
        """Start listening (idempotent); returns self."""
        if self._controller is not None:
            return self
        kwargs: dict[str, Any] = {}
        if self.credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context)
        if self.ssl_context is not None:
            kwargs.update(ssl_context=self.ssl_context)
        controller = Controller(self.handler, hostname=self.host, port=self.port, **kwargs)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening (idempotent); received mails are kept."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._controller is not None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- behaviour -------------------------------------------------------------------

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        """Answer RCPT TO ``address`` with ``reply`` (e.g. ``"450 4.2.1 Try later"``)."""
        with self.handler.cond:
            self.handler.refusals[address.lower()] = reply

    def accept(self, address: str) -> None:
        """Undo :meth:`refuse` for ``address``."""
        with self.handler.cond:
            self.handler.refusals.pop(address.lower(), None)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self.credentials is not None
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            if self.credentials.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    # -- inspection ------------------------------------------------------------------

    @property
    def received(self) -> list[ReceivedMail]:
        """Snapshot of all received mails with their envelopes, oldest first."""
        with self.handler.cond:
            return list(self.handler.received)

    @property
    def messages(self) -> list[EmailMessage]:
        """Snapshot of all received messages, oldest first."""
        return [mail.message for mail in self.received]

    def clear(self) -> None:
        """Forget received mails."""
        with self.handler.cond:
            self.handler.received.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Wait until at least ``count`` messages arrived and return all of them.

        Raises:
            TimeoutError: If fewer than ``count`` messages arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self.handler.cond:
            while len(self.handler.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} mails within {timeout}s, got {len(self.handler.received)}")
                self.handler.cond.wait(remaining)
            return [mail.message for mail in self.handler.received]
