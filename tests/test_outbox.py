"""The outbox: written in the transaction of the change, sent once by the worker, retried with backoff,
failed after the last try, nothing lost while SMTP is down."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from mailtest import deliver, running_smtp, sender, text_of
from smtp_server import SmtpServer
from tortoise.transactions import in_transaction

import cli
from models.audit import AuditEvent
from models.outbox import OutboxMessage
from resolvers import outbox
from resolvers.smtp import Mailbox

LINK = "https://kms.example.com/reset-password?token=kms_rst_s3cr3t"

smtp = pytest.fixture(running_smtp, name="smtp")


async def queue(world, key="keys_a", link=LINK) -> OutboxMessage:
    user = world.users[key]
    async with in_transaction():
        return await outbox.mail_user("RESET_PASSWORD", user, {"action_link": link, "expires_at": "soon"})


async def test_a_queued_mail_is_sent_once_and_its_body_cleared(world, smtp):
    # given
    row = await queue(world)
    # when
    messages = await deliver(smtp)
    # then
    (message,) = messages
    assert message["To"] == "keys_a@example.com"
    assert message["Subject"] == "Reset your Meter KMS password"
    assert LINK in text_of(message) and "Hello Keys A" in text_of(message)
    assert message["Message-ID"] == f"<{row.id}@meter-kms.outbox>"
    stored = await OutboxMessage.get(id=row.id)
    assert (stored.status, stored.attempts, stored.html, stored.text) == ("SENT", 1, "", "")
    assert stored.sent_at is not None
    # a second round finds nothing to do
    assert await outbox.deliver_due(sender(smtp)) == 0
    assert len(smtp.messages) == 1


async def test_sending_is_audited_without_body_or_link(world, smtp):
    row = await queue(world)
    await deliver(smtp)
    event = await AuditEvent.get(action="mail.sent")
    details = json.loads(event.details)
    assert details["templateId"] == str(row.template_id)
    assert details["recipientUserId"] == str(world.users["keys_a"].id)
    assert event.target == f"user:{world.users['keys_a'].id}"
    assert event.organisation_id == world.orgs["customer_a"].id
    assert "s3cr3t" not in event.details and "keys_a@example.com" not in event.details


async def test_a_rolled_back_change_sends_nothing(world, smtp):
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await outbox.mail_user("RESET_PASSWORD", world.users["keys_a"], {"action_link": LINK, "expires_at": "x"})
            raise RuntimeError("the change failed")
    assert await OutboxMessage.all().count() == 0
    assert await deliver(smtp) == []


async def test_smtp_down_delays_but_does_not_lose_a_mail(world):
    # given: nothing listens on the server's port yet
    server = SmtpServer()
    row = await queue(world)
    # when
    assert await outbox.deliver_due(sender(server)) == 1
    # then: still pending, retried later with backoff
    pending = await OutboxMessage.get(id=row.id)
    assert (pending.status, pending.attempts, pending.locked_until) == ("PENDING", 1, None)
    assert pending.html and pending.last_error
    delay = pending.next_attempt_at - datetime.now(UTC)
    assert timedelta(seconds=30) < delay <= timedelta(seconds=61)
    assert await outbox.deliver_due(sender(server)) == 0  # not due yet
    # when the server is back and the retry is due
    with server:
        later = datetime.now(UTC) + timedelta(minutes=2)
        assert await outbox.deliver_due(sender(server), now=later) == 1
        (message,) = server.wait_for(1)
    assert LINK in text_of(message)
    assert (await OutboxMessage.get(id=row.id)).status == "SENT"


async def test_backoff_grows_exponentially_and_is_capped():
    delays = [outbox._backoff(n).total_seconds() for n in range(1, 12)]
    assert delays[:4] == [60, 120, 240, 480]
    assert max(delays) == outbox.BACKOFF_CAP.total_seconds()


async def test_the_last_failed_try_marks_the_mail_failed(world):
    server = SmtpServer()  # never started
    row = await queue(world)
    far = datetime.now(UTC)
    for _ in range(3):
        far += timedelta(days=1)
        await outbox.deliver_due(sender(server), now=far, max_attempts=3)
    failed = await OutboxMessage.get(id=row.id)
    assert (failed.status, failed.attempts, failed.html, failed.text) == ("FAILED", 3, "", "")
    event = await AuditEvent.get(action="mail.failed")
    assert json.loads(event.details)["attempts"] == 3


async def test_a_permanent_refusal_fails_at_once(world, smtp):
    smtp.refuse("keys_a@example.com")
    row = await queue(world)
    await deliver(smtp)
    failed = await OutboxMessage.get(id=row.id)
    assert (failed.status, failed.attempts) == ("FAILED", 1)
    assert "550" in failed.last_error


async def test_concurrent_workers_send_each_mail_once(world, smtp):
    # given
    for i in range(12):
        await queue(world, link=f"{LINK}-{i}")
    # when: three workers race for the same rows
    counts = await asyncio.gather(*(outbox.deliver_due(sender(smtp), batch=12) for _ in range(3)))
    # then
    assert sum(counts) == 12
    messages = smtp.wait_for(12)
    assert len(messages) == 12
    assert len({m["Message-ID"] for m in messages}) == 12
    assert await OutboxMessage.filter(status="SENT").count() == 12


async def test_a_claimed_mail_is_left_alone_until_its_lease_ends(world, smtp):
    # given: a worker claimed the row and died before sending
    row = await queue(world)
    now = datetime.now(UTC)
    await OutboxMessage.filter(id=row.id).update(locked_until=now + outbox.LEASE)
    # then: nobody else sends it meanwhile
    assert await outbox.deliver_due(sender(smtp)) == 0
    # but once the lease is over, it goes out
    assert await outbox.deliver_due(sender(smtp), now=now + outbox.LEASE + timedelta(seconds=1)) == 1
    assert len(smtp.wait_for(1)) == 1


async def test_a_mail_whose_lease_ran_out_mid_batch_is_sent_by_one_worker_only(world, smtp):
    # given: a worker claimed a batch at T and is still busy with earlier mails of it when its lease runs out
    row = await queue(world)
    start = datetime.now(UTC)
    [slow] = await outbox._claim(20, start)
    # when: another worker takes the mail over after the lease and sends it, and then the first one gets to it
    assert await outbox.deliver_due(sender(smtp), now=start + outbox.LEASE + timedelta(seconds=1)) == 1
    sent_again = await outbox._deliver(sender(smtp), slow, outbox.DEFAULT_MAX_ATTEMPTS)
    # then: it went out once, stays SENT, and the audit log says so once
    assert sent_again is False
    assert len(smtp.wait_for(1)) == 1 and len(smtp.messages) == 1  # (a send returns once the server took it)
    assert (await OutboxMessage.get(id=row.id)).status == "SENT"
    assert await AuditEvent.filter(action="mail.sent").count() == 1


async def test_a_host_whose_clock_runs_ahead_does_not_take_a_lease_that_has_not_run_out(world, smtp, monkeypatch):
    from models import db

    # given: a worker holds a mail's lease, and another host's clock runs past that lease's end
    row = await queue(world)
    [held] = await outbox._claim(20, await db.clock())
    monkeypatch.setattr(outbox, "_now", lambda: datetime.now(UTC) + outbox.LEASE + timedelta(minutes=1))
    # when: that host's worker polls
    taken = await outbox.deliver_due(sender(smtp))
    # then: it leaves the mail to the worker whose lease it is, by the database's clock, which sends it once
    assert taken == 0 and smtp.messages == []
    assert await outbox._deliver(sender(smtp), held, outbox.DEFAULT_MAX_ATTEMPTS) is True
    assert len(smtp.wait_for(1)) == 1 and (await OutboxMessage.get(id=row.id)).status == "SENT"


async def test_a_mail_queued_on_a_host_whose_clock_runs_ahead_is_due_at_once(world, smtp, monkeypatch):
    # given: a host whose clock is an hour ahead queues a mail
    monkeypatch.setattr(outbox, "_now", lambda: datetime.now(UTC) + timedelta(hours=1))
    await queue(world)
    monkeypatch.undo()
    # when: a worker on a host with the right time polls
    sent = await outbox.deliver_due(sender(smtp))
    # then: the mail goes out now, not in an hour
    assert sent == 1 and len(smtp.wait_for(1)) == 1


async def test_the_worker_loop_sends_and_stops(world, smtp, settings):
    fast = dataclasses.replace(settings, mail_poll_seconds=1)
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run_worker(fast, stop, sender=sender(smtp)))
    await queue(world)
    for _ in range(50):
        if smtp.messages:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(smtp.messages) == 1


async def test_without_smtp_the_demo_mailbox_keeps_mails(world, settings, tmp_path, monkeypatch, capsys):
    # given
    monkeypatch.delenv("KMS_SMTP_HOST", raising=False)
    demo = dataclasses.replace(settings, data_dir=tmp_path)
    transport = outbox.sender_for(demo)
    assert isinstance(transport, outbox.MailboxSender)
    await queue(world)
    # when
    assert await outbox.deliver_due(transport) == 1
    # then
    (entry,) = Mailbox(demo.mailbox_dir).latest(5)
    assert entry.to == "keys_a@example.com" and LINK in entry.text
    assert cli.cmd_mailbox(demo, cli.build_parser().parse_args(["mailbox"])) == 0
    printed = capsys.readouterr().out
    assert "Reset your Meter KMS password" in printed and LINK in printed


DEMO_MAILBOX = "query($n: Int) { demoMailbox(first: $n) { id sentAt to subject text html } }"
DEMO_MAIL = "query($id: ID!) { demoMail(id: $id) { id to subject text html } }"


async def test_a_platform_admin_reads_the_demo_mailbox_newest_first(world, settings, as_user, monkeypatch):
    # given: two mails delivered to the demo mailbox the server reads
    monkeypatch.delenv("KMS_SMTP_HOST", raising=False)
    transport = outbox.MailboxSender(Mailbox(settings.mailbox_dir))
    await queue(world, "keys_a")
    assert await outbox.deliver_due(transport) == 1
    await queue(world, "viewer_a", link="https://kms.example.com/reset-password?token=kms_rst_second")
    assert await outbox.deliver_due(transport) == 1
    api = await as_user("platform_admin")
    # when
    data = await api.ok("{ mailTransport }")
    mails = (await api.ok(DEMO_MAILBOX, {"n": 2}))["demoMailbox"]
    # then
    assert data == {"mailTransport": "DEMO_MAILBOX"}
    assert [m["to"] for m in mails] == ["viewer_a@example.com", "keys_a@example.com"]
    newest = mails[0]
    assert newest["subject"] == "Reset your Meter KMS password"
    assert "kms_rst_second" in newest["text"] and 'href="https://kms.example.com/reset-password' in newest["html"]
    assert datetime.fromisoformat(newest["sentAt"]) <= datetime.now(UTC)
    one = (await api.ok(DEMO_MAIL, {"id": newest["id"]}))["demoMail"]
    assert one == {k: newest[k] for k in ("id", "to", "subject", "text", "html")}
    assert len((await api.ok(DEMO_MAILBOX, {"n": 1}))["demoMailbox"]) == 1


async def test_demo_mail_ids_cannot_leave_the_mailbox(world, settings, as_user, monkeypatch):
    monkeypatch.delenv("KMS_SMTP_HOST", raising=False)
    (settings.data_dir / "secret.eml").write_text("To: x@example.com\nSubject: secret\n\nsecret\n")
    api = await as_user("platform_admin")
    for bad in ("../secret", "secret", "00000000000000000000-0000000", "/etc/passwd", "00000000000000000000-00000000"):
        assert await api.code(DEMO_MAIL, {"id": bad}) == "NOT_FOUND", bad


async def test_with_smtp_configured_there_is_no_demo_mailbox(world, settings, as_user, monkeypatch):
    # given: a mail in the demo mailbox, then SMTP is configured
    monkeypatch.delenv("KMS_SMTP_HOST", raising=False)
    await queue(world)
    assert await outbox.deliver_due(outbox.MailboxSender(Mailbox(settings.mailbox_dir))) == 1
    api = await as_user("platform_admin")
    mail_id = (await api.ok(DEMO_MAILBOX, {"n": 1}))["demoMailbox"][0]["id"]
    monkeypatch.setenv("KMS_SMTP_HOST", "smtp.example.com")
    # then
    assert await api.ok("{ mailTransport }") == {"mailTransport": "SMTP"}
    assert await api.ok(DEMO_MAILBOX, {"n": 5}) == {"demoMailbox": []}
    assert await api.code(DEMO_MAIL, {"id": mail_id}) == "NOT_FOUND"


async def test_only_platform_admins_read_the_demo_mailbox(world, as_user):
    for key in ("admin_a", "keys_a", "viewer_a"):
        api = await as_user(key)
        assert await api.code(DEMO_MAILBOX, {"n": 5}) == "FORBIDDEN", key
        assert await api.code("{ mailTransport }") == "FORBIDDEN", key
