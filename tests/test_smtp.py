"""Tests for resolvers.smtp against a real (aiosmtpd) SMTP server."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from smtp_server import SmtpServer, free_port

from resolvers.smtp import Mailbox, SmtpSendError, SmtpSettings, send_email

SECRET_LINK = "https://kms.example.com/activate/s3cr3t-t0ken-4711"
HTML = f'<p>Hallo, bitte <a href="{SECRET_LINK}">aktivieren</a>.</p>'
TEXT = f"Hallo, bitte aktivieren: {SECRET_LINK}"
SUBJECT = "Schlüssel für Zähler: åtkomst nöjd, Grüße"
PASSWORD = "hunter2-very-secret"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer() as srv:
        yield srv


def plain_settings(port: int, **kw: object) -> SmtpSettings:
    base = SmtpSettings(host="127.0.0.1", port=port, tls="none", timeout=5)
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


async def send(
    settings: SmtpSettings,
    to: str = "alice@example.org",
    subject: str = SUBJECT,
    message_id: str | None = None,
) -> None:
    await send_email(settings, to=to, subject=subject, html=HTML, text=TEXT, message_id=message_id)


def file_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def assert_no_secrets(err: SmtpSendError) -> None:
    text = str(err) + repr(err)
    assert SECRET_LINK not in text
    assert "s3cr3t" not in text
    assert PASSWORD not in text


# -- delivery -----------------------------------------------------------------------------


async def test_delivers_html_and_text_parts(server: SmtpServer) -> None:
    await send_email(
        plain_settings(server.port),
        to="Åsa Öberg <asa@example.org>",
        subject=SUBJECT,
        html=HTML,
        text=TEXT,
    )
    (msg,) = server.wait_for(1)
    assert msg["Subject"] == SUBJECT
    (to,) = msg["To"].addresses
    assert to.addr_spec == "asa@example.org"
    assert to.display_name == "Åsa Öberg"
    (sender,) = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Meter KMS", "no-reply@example.com")
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.com>")
    assert msg["Date"] is not None

    html_part = msg.get_body(preferencelist=("html",))
    text_part = msg.get_body(preferencelist=("plain",))
    assert html_part is not None and text_part is not None
    assert html_part.get_content_type() == "text/html"
    assert html_part.get_content().strip() == HTML
    assert text_part.get_content().strip() == TEXT

    (mail,) = server.received
    assert mail.rcpt_tos == ["asa@example.org"]
    assert mail.mail_from == "no-reply@example.com"


async def test_message_id_and_sender_are_used(server: SmtpServer) -> None:
    settings = plain_settings(server.port, sender="Zähler KMS <kms@meter.example>")
    await send(settings, message_id="<abc.123@meter.example>", subject="Grüße")
    (msg,) = server.wait_for(1)
    assert msg["Message-ID"] == "<abc.123@meter.example>"
    assert msg["Subject"] == "Grüße"
    assert msg["From"].addresses[0].display_name == "Zähler KMS"
    assert server.received[0].mail_from == "kms@meter.example"


async def test_login_with_credentials() -> None:
    with SmtpServer(credentials={"kms": PASSWORD}) as srv:
        await send(plain_settings(srv.port, user="kms", password=PASSWORD))
        assert len(srv.wait_for(1)) == 1

        with pytest.raises(SmtpSendError) as info:
            await send(plain_settings(srv.port, user="kms", password=PASSWORD + "x"))
    assert info.value.permanent is False
    assert info.value.code == 535
    assert "authentication" in str(info.value)
    assert_no_secrets(info.value)


# -- failures -----------------------------------------------------------------------------


async def test_stopped_server_is_temporary_failure(server: SmtpServer) -> None:
    server.stop()
    with pytest.raises(SmtpSendError) as info:
        await send(plain_settings(server.port, user="kms", password=PASSWORD))
    assert info.value.permanent is False
    assert info.value.code is None
    assert f"127.0.0.1:{server.port}" in str(info.value)
    assert_no_secrets(info.value)


async def test_unused_port_is_temporary_failure() -> None:
    with pytest.raises(SmtpSendError) as info:
        await send(plain_settings(free_port()))
    assert info.value.permanent is False
    assert_no_secrets(info.value)


async def test_silent_server_times_out() -> None:
    with socket.socket() as listener:  # accepts TCP connections but never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        settings = plain_settings(listener.getsockname()[1], timeout=0.3)
        with pytest.raises(SmtpSendError) as info:
            await send(settings)
    assert info.value.permanent is False
    assert "timed out" in str(info.value)


async def test_recipient_refused_550_is_permanent(server: SmtpServer) -> None:
    server.refuse("nobody@example.org")
    with pytest.raises(SmtpSendError) as info:
        await send(plain_settings(server.port), to="nobody@example.org")
    assert info.value.permanent is True
    assert info.value.code == 550
    assert "nobody@example.org" in str(info.value)
    assert "No such user" in str(info.value)
    assert_no_secrets(info.value)
    assert server.received == []


async def test_recipient_refused_450_is_temporary(server: SmtpServer) -> None:
    server.refuse("busy@example.org", "450 4.2.1 Mailbox busy, try later")
    with pytest.raises(SmtpSendError) as info:
        await send(plain_settings(server.port), to="busy@example.org")
    assert info.value.permanent is False
    assert info.value.code == 450

    server.accept("busy@example.org")
    await send(plain_settings(server.port), to="busy@example.org")
    assert len(server.wait_for(1)) == 1


@pytest.mark.parametrize("to", ["", "not-an-address", "a@example.org, b@example.org", "a@example.org\r\nBcc: x@y"])
async def test_invalid_recipient_is_permanent(server: SmtpServer, to: str) -> None:
    with pytest.raises(SmtpSendError) as info:
        await send(plain_settings(server.port), to=to)
    assert info.value.permanent is True
    assert server.received == []


async def test_subject_with_newline_is_rejected(server: SmtpServer) -> None:
    with pytest.raises(ValueError, match="subject"):
        await send(plain_settings(server.port), subject="Hi\r\nBcc: evil@example.org")


async def test_starttls_not_offered_is_temporary(server: SmtpServer) -> None:
    with pytest.raises(SmtpSendError) as info:
        await send(plain_settings(server.port, tls="starttls"))
    assert info.value.permanent is False
    assert "STARTTLS" in str(info.value)
    assert server.received == []


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is missing: `make test-system-deps` installs it")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
async def test_tls_verifies_certificate(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    cert, key = self_signed
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    if mode == "starttls":
        srv = SmtpServer(tls_context=server_ctx)
    else:
        srv = SmtpServer(ssl_context=server_ctx)
    with srv:
        settings = plain_settings(srv.port, tls=mode)
        with pytest.raises(SmtpSendError) as info:  # self-signed: not trusted by default
            await send(settings)
        assert info.value.permanent is False
        assert "not trusted" in str(info.value)
        assert srv.received == []

        real = ssl.create_default_context
        monkeypatch.setattr(ssl, "create_default_context", lambda: real(cafile=str(cert)))
        await send(settings)
        assert len(srv.wait_for(1)) == 1


# -- settings -----------------------------------------------------------------------------


def test_settings_repr_hides_password() -> None:
    settings = SmtpSettings(host="mail.example.com", user="kms", password=PASSWORD)
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)
    assert "kms" in repr(settings)


def test_settings_from_env() -> None:
    assert SmtpSettings.from_env({}) is None
    assert SmtpSettings.from_env({"KMS_SMTP_HOST": ""}) is None

    settings = SmtpSettings.from_env({"KMS_SMTP_HOST": "mail.example.com"})
    assert settings == SmtpSettings(host="mail.example.com", port=587, tls="starttls")
    assert settings.sender == "Meter KMS <no-reply@example.com>"

    settings = SmtpSettings.from_env(
        {
            "KMS_SMTP_HOST": "smtp.example.com",
            "KMS_SMTP_TLS": "SSL",
            "KMS_SMTP_USER": "kms",
            "KMS_SMTP_PASSWORD": PASSWORD,
            "KMS_SMTP_SENDER": "KMS <kms@example.com>",
        }
    )
    assert settings is not None
    assert (settings.port, settings.tls, settings.user, settings.password) == (465, "ssl", "kms", PASSWORD)
    assert settings.sender == "KMS <kms@example.com>"

    settings = SmtpSettings.from_env({"KMS_SMTP_HOST": "h", "KMS_SMTP_PORT": "2525", "KMS_SMTP_TLS": "none"})
    assert settings is not None and (settings.port, settings.tls) == (2525, "none")


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"KMS_SMTP_PORT": "abc"}, "KMS_SMTP_PORT"),
        ({"KMS_SMTP_PORT": "70000"}, "port"),
        ({"KMS_SMTP_TLS": "yes"}, "TLS mode"),
        ({"KMS_SMTP_PASSWORD": PASSWORD}, "together"),
        ({"KMS_SMTP_SENDER": "nobody"}, "sender"),
    ],
)
def test_settings_from_env_rejects_invalid(env: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        SmtpSettings.from_env({"KMS_SMTP_HOST": "mail.example.com", **env})
    assert PASSWORD not in str(info.value)


# -- mailbox ------------------------------------------------------------------------------


async def test_mailbox_writes_eml_and_lists_newest_first(tmp_path: Path) -> None:
    box = Mailbox(tmp_path / "mail")
    assert box.latest() == []

    first = await box.deliver(to="alice@example.org", subject=SUBJECT, html=HTML, text=TEXT)
    second = await box.deliver(
        to="Bob <bob@example.org>",
        subject="Zweite",
        html="<p>2</p>",
        text="zwei",
        message_id="<m2@x.example>",
    )
    assert first.suffix == ".eml" and first.parent == tmp_path / "mail"
    assert file_names(tmp_path / "mail") == sorted([first.name, second.name])
    assert first.stat().st_mode & 0o077 == 0

    msg = BytesParser(policy=policy.default).parsebytes(first.read_bytes())
    assert isinstance(msg, EmailMessage)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == SUBJECT
    assert msg["To"] == "alice@example.org"
    assert msg["From"].addresses[0].addr_spec == "no-reply@example.com"
    assert msg["Message-ID"]
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None and html_part.get_content().strip() == HTML

    entries = box.latest(10)
    assert [e.path for e in entries] == [second, first]
    newest = entries[0]
    assert (newest.to, newest.subject, newest.text.strip()) == ("Bob <bob@example.org>", "Zweite", "zwei")
    assert newest.date.tzinfo is not None
    assert entries[1].subject == SUBJECT
    assert entries[1].text.strip() == TEXT
    assert box.latest(1) == entries[:1]
    assert box.latest(0) == []


async def test_mailbox_rejects_invalid_recipient(tmp_path: Path) -> None:
    box = Mailbox(tmp_path)
    with pytest.raises(SmtpSendError) as info:
        await box.deliver(to="x@y\nBcc: z@w", subject="s", html="h", text="t")
    assert info.value.permanent is True
    assert file_names(tmp_path) == []
