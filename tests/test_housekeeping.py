"""Housekeeping (resolvers/housekeeping.py): what is over leaves the shared tables, nothing else does."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from crypto import tokens
from models.auth import RateLimit, Session
from models.invites import AccountToken
from resolvers import housekeeping, ratelimit


async def test_a_sweep_removes_ended_sessions_old_counters_and_old_links_only(client, world, settings):
    # given: a live session, one past its absolute end and one idle for too long
    live = client()
    await live.login("keys_a@example.com")
    user = world.users["keys_a"]
    now = datetime.now(UTC)
    idle = timedelta(seconds=settings.session_idle_seconds)
    for name, created, seen, expires in (
        ("over", now - timedelta(days=2), now - timedelta(minutes=1), now - timedelta(seconds=1)),
        ("idle", now - timedelta(hours=2), now - idle - timedelta(seconds=1), now + timedelta(hours=1)),
    ):
        await Session.create(
            digest=tokens.token_digest(name), user=user, created_at=created, last_seen_at=seen, expires_at=expires
        )
    # counters: one of this hour, one of two days ago
    await ratelimit.hit("login-address:203.0.113.7", 900)
    await RateLimit.create(key="login-address:198.51.100.9", window_start=int(time.time()) - 2 * 86400, count=3)
    # mail links: one open, one expired an hour ago, one expired two days ago
    for n, expires in enumerate((now + timedelta(hours=1), now - timedelta(hours=1), now - timedelta(days=2))):
        await AccountToken.create(user=user, purpose="RESET_PASSWORD", digest=f"{n:064}", expires_at=expires)
    # when
    swept = await housekeeping.sweep(settings)
    # then: exactly what is over went
    assert swept == housekeeping.Swept(sessions=2, rate_limits=1, account_tokens=1)
    assert await Session.all().count() == 1 and (await live.ok("{ me { email } }"))["me"]
    kept = set(await RateLimit.all().values_list("key", flat=True))
    assert "login-address:203.0.113.7" in kept and "login-address:198.51.100.9" not in kept
    assert sorted(await AccountToken.all().values_list("digest", flat=True)) == [f"{0:064}", f"{1:064}"]


async def test_the_mail_worker_sweeps_when_it_starts(world, settings):
    import asyncio

    from resolvers import outbox
    from resolvers.smtp import Mailbox

    now = datetime.now(UTC)
    await Session.create(
        digest=tokens.token_digest("over"),
        user=world.users["keys_a"],
        created_at=now - timedelta(days=1),
        last_seen_at=now - timedelta(days=1),
        expires_at=now - timedelta(hours=1),
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(
        outbox.run_worker(settings, stop, sender=outbox.MailboxSender(Mailbox(settings.mailbox_dir)))
    )
    try:
        for _ in range(100):
            if not await Session.exists():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
    assert not await Session.exists()


async def test_a_login_lock_of_a_long_window_is_not_swept_before_its_window_ends(world, settings):
    from dataclasses import replace

    week = replace(settings, login_window_seconds=7 * 86400)
    two_days_ago = int(time.time()) - 2 * 86400
    await RateLimit.create(key="login-account:locked", window_start=two_days_ago, count=9)
    assert (await housekeeping.sweep(week)).rate_limits == 0
    assert (await housekeeping.sweep(settings)).rate_limits == 1
