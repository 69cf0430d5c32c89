"""Fixed-window counters kept in the database, so every server process and host shares them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from tortoise import connections
from tortoise.expressions import F

from models import db
from models.auth import RateLimit


@dataclass(frozen=True)
class Window:
    count: int
    retry_after: int  # seconds until the window resets


def client_network(client_address: str | None) -> str:
    """Whom a limit per client counts: an IPv4 address, an IPv6 /64 (one subscriber's network holds countless
    addresses, so counting each would limit nobody), or "unknown" for a caller without an address."""
    try:
        address = ipaddress.ip_address(client_address or "")
    except ValueError:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# The database's time in whole seconds: hosts whose clocks disagree still share one window per key. Every part
# of the upsert reads the same time (statement_timestamp(), not clock_timestamp(), which moves while the
# statement waits for the row's lock), so the count and the window's start always agree on which window it is.
_NOW = {
    "postgres": "floor(extract(epoch FROM statement_timestamp()))::bigint",  # one reading for the statement
    "sqlite": "CAST(strftime('%s', 'now') AS INTEGER)",
}


async def hit(key: str, window_seconds: int) -> Window:
    """Count one event for ``key`` atomically (one upsert statement, by the database's clock) and return the
    window."""
    postgres = db.dialect() == "postgres"
    now = _NOW["postgres" if postgres else "sqlite"]
    key_mark, window_mark = ("$1", "$2") if postgres else ("?", "?")
    table = RateLimit._meta.db_table
    expired = f"{table}.window_start <= {now} - {window_mark}"
    # Only the table name, the clock and placeholders are formatted in; every value is a bound parameter.
    sql = (
        f"INSERT INTO {table} (key, window_start, count) VALUES ({key_mark}, {now}, 1) "  # noqa: S608
        f"ON CONFLICT (key) DO UPDATE SET "
        f"count = CASE WHEN {expired} THEN 1 ELSE {table}.count + 1 END, "
        f"window_start = CASE WHEN {expired} THEN excluded.window_start ELSE {table}.window_start END "
        f"RETURNING count, window_start, {now} AS now"
    )
    values: list[object] = [key, window_seconds] if postgres else [key, window_seconds, window_seconds]
    # execute_query_dict: the asyncpg client would drop RETURNING rows of an INSERT in execute_query.
    row = (await connections.get("default").execute_query_dict(sql, values))[0]
    return Window(int(row["count"]), int(row["window_start"]) + window_seconds - int(row["now"]))


async def give_back(key: str) -> None:
    """Uncount one event of ``key``: an attempt counted before it ran (so parallel attempts cannot all pass
    a check made before any of them was counted) that turned out not to be a failure."""
    await RateLimit.filter(key=key, count__gt=0).update(count=F("count") - 1)


async def reset(key: str) -> None:
    await RateLimit.filter(key=key).delete()
