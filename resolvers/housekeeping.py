"""Housekeeping: rows whose time is over leave the tables that every server shares.

Ended sessions are otherwise removed only when their cookie comes back, rate-limit counters never (every
client address and every address typed into a login or a reset leaves one), and used or expired mail links
stay. The mail worker sweeps them every ``SWEEP_EVERY`` (every process that runs one: the deletes only
repeat each other). Times are the database's, which every host reads alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from tortoise.expressions import Q

from models import db
from models.auth import RateLimit, Session
from models.invites import AccountToken
from settings import Settings

log = logging.getLogger("kms.housekeeping")

SWEEP_EVERY: Final = timedelta(minutes=10)
# Longer than the rate-limit windows of the code (the longest is an hour), with room for hosts whose clocks
# differ; the login window is a setting and may be longer (_counters_kept).
COUNTER_KEPT: Final = timedelta(days=1)
# A mail link is kept this long after it expired, so "used" and "expired" still read as such for a day.
LINK_KEPT: Final = timedelta(days=1)


@dataclass(frozen=True)
class Swept:
    sessions: int
    rate_limits: int
    account_tokens: int


def _counters_kept(settings: Settings) -> timedelta:
    """A counter is swept a day after the longest window could have ended: a login lock lasts its whole window."""
    return max(timedelta(hours=1), timedelta(seconds=settings.login_window_seconds)) + COUNTER_KEPT


async def sweep(settings: Settings, now: datetime | None = None) -> Swept:
    """Delete ended sessions, counters of windows long over and mail links a day past their expiry."""
    now = now or await db.clock()
    idle = timedelta(seconds=settings.session_idle_seconds)
    swept = Swept(
        sessions=await Session.filter(Q(expires_at__lte=now) | Q(last_seen_at__lte=now - idle)).delete(),
        rate_limits=await RateLimit.filter(window_start__lt=int((now - _counters_kept(settings)).timestamp())).delete(),
        account_tokens=await AccountToken.filter(expires_at__lte=now - LINK_KEPT).delete(),
    )
    if swept.sessions or swept.rate_limits or swept.account_tokens:
        log.info(
            "swept %s ended sessions, %s rate-limit counters, %s mail links",
            swept.sessions,
            swept.rate_limits,
            swept.account_tokens,
        )
    return swept
