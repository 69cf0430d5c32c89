"""Fixed-window counters in the database (resolvers/ratelimit.py), shared by every process and host."""

from __future__ import annotations

import asyncio
import time

from models.auth import RateLimit
from resolvers import ratelimit


async def test_a_window_counts_hits_and_tells_when_it_ends():
    first = await ratelimit.hit("test:counted", 600)
    second = await ratelimit.hit("test:counted", 600)
    assert (first.count, second.count) == (1, 2)
    assert 598 <= second.retry_after <= 600
    assert (await ratelimit.hit("test:other", 600)).count == 1  # each key its own window


async def test_an_expired_window_starts_again():
    await ratelimit.hit("test:expiring", 60)
    await RateLimit.filter(key="test:expiring").update(window_start=int(time.time()) - 61)
    assert (await ratelimit.hit("test:expiring", 60)).count == 1


async def test_hosts_whose_clocks_disagree_share_one_window(monkeypatch):
    # given: a hit from a host whose clock is right
    await ratelimit.hit("test:skewed", 3600)
    # when: the next hit comes from a host whose clock runs two hours ahead (or one an hour behind)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 7200)
    ahead = await ratelimit.hit("test:skewed", 3600)
    monkeypatch.setattr(time, "time", lambda: real() - 3600)
    behind = await ratelimit.hit("test:skewed", 3600)
    # then: the database's clock decides, so neither resets the window nor stretches it
    assert (ahead.count, behind.count) == (2, 3)
    assert 3590 <= behind.retry_after <= 3600


async def test_parallel_hits_are_each_counted_once():
    windows = await asyncio.gather(*(ratelimit.hit("test:parallel", 600) for _ in range(20)))
    assert sorted(w.count for w in windows) == list(range(1, 21))
