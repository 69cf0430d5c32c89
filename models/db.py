"""Database set-up: the Tortoise configuration, start, migrations and shutdown."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import IntegrityError
from tortoise.migrations.api import migrate as tortoise_migrate

from models import MODEL_MODULES


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise configuration for one database URL (sqlite://path or postgres://...)."""
    if database_url.startswith("sqlite://") and not database_url.startswith("sqlite://:memory:"):
        Path(database_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
    return {
        "connections": {"default": database_url},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For the `tortoise` command line (makemigrations): `tortoise -c models.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config("sqlite://data/kms.sqlite3")


class AdvisoryLock(IntEnum):
    """The service's PostgreSQL advisory locks, numbered in one place so that no two share a key. They are
    held over every host that uses the database."""

    AUDIT_CHAIN = 7_240_001  # appends to the audit chain, one at a time
    BATCH = 7_240_002  # batch creations take turns, each seeing the batches before it
    KEK_ROTATION = 7_240_003  # one KEK rotation at a time
    FIRST_KEK = 7_240_004  # the first KEK is made by one server
    MIGRATION = 7_240_005  # one `kms migrate` at a time
    KEY_WRITE = 7_240_006  # shared by transactions that store sealed keys; a KEK rotation waits for them
    DEMO = 7_240_007  # one `kms demo` seeding at a time


@asynccontextmanager
async def held(lock: AdvisoryLock) -> AsyncIterator[None]:
    """Hold `lock` over every host for the block, waiting for it first (PostgreSQL; it is held by a pooled
    connection of its own, so the block's statements and transactions run beside it). SQLite serves one
    host: nothing to hold."""
    if dialect() != "postgres":
        yield
        return
    async with connections.get("default").acquire_connection() as connection:
        await connection.fetchval("SELECT pg_advisory_lock($1)", lock)
        try:
            yield
        finally:
            await connection.fetchval("SELECT pg_advisory_unlock($1)", lock)


async def migrate(database_url: str) -> None:
    """Apply every migration (the same files on SQLite and PostgreSQL). Hosts that start together and each
    run `kms migrate` take turns on PostgreSQL: the first applies what is missing, the others then find
    nothing left to do (two at once would both create the same tables, and one would fail half-way)."""
    lock = await _connect(database_url) if not database_url.startswith("sqlite") else None
    try:
        if lock is not None:
            await lock.execute("SELECT pg_advisory_lock($1)", AdvisoryLock.MIGRATION)
        await tortoise_migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()
        if lock is not None:
            await lock.close()  # (which releases the lock)


async def _connect(database_url: str) -> asyncpg.Connection:
    """A connection of its own to the PostgreSQL database of a Tortoise URL (whatever its scheme and options)."""
    credentials = expand_db_url(database_url)["credentials"]
    names = ("host", "port", "user", "password", "database", "ssl")
    return await asyncpg.connect(**{name: credentials[name] for name in names if name in credentials})


async def init(database_url: str) -> None:
    """Open the connections for serving (migrations are applied separately by `kms migrate`)."""
    # The lifespan task opens the connections; request tasks must see them too, hence the global fallback.
    global _dialect
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    _dialect = str(connections.get("default").capabilities.dialect)


async def close() -> None:
    global _dialect
    _dialect = None
    await Tortoise.close_connections()


_dialect: str | None = None  # of the database init() opened (every request asks, several times)


def dialect() -> str:
    """'sqlite' or 'postgres', for the few statements written by hand."""
    return _dialect or str(connections.get("default").capabilities.dialect)


async def copy_rows(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert many rows at once: COPY on PostgreSQL, executemany on SQLite. Bulk work (imports, releases)
    skips ORM objects this way; it runs inside the caller's transaction. A unique violation is raised as
    tortoise's IntegrityError, like the ORM does."""
    if not rows:
        return
    client = connections.get("default")
    try:
        async with client.acquire_connection() as connection:
            if dialect() == "postgres":
                await connection.copy_records_to_table(table, columns=list(columns), records=rows)
            else:
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - names are ours
                await connection.executemany(sql, [tuple(_sqlite(v) for v in row) for row in rows])
    except (asyncpg.exceptions.IntegrityConstraintViolationError, sqlite3.IntegrityError) as exc:
        raise IntegrityError(str(exc)) from exc


def _sqlite(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


async def clock() -> datetime:
    """The database's time: hosts whose clocks differ agree on it (leases). SQLite's is this host's."""
    if dialect() == "postgres":
        rows = await connections.get("default").execute_query_dict("SELECT clock_timestamp() AS now")
        return rows[0]["now"].astimezone(UTC)  # type: ignore[no-any-return]
    rows = await connections.get("default").execute_query_dict("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now') AS now")
    return datetime.fromisoformat(rows[0]["now"]).replace(tzinfo=UTC)


async def analyze(*tables: str) -> None:
    """Refresh PostgreSQL's planner statistics after a bulk change (SQLite plans without them)."""
    if dialect() == "postgres":
        await connections.get("default").execute_script(f"ANALYZE {', '.join(tables)}")


class Lease:
    """One pooled PostgreSQL connection a request takes for its session lookup and may keep for one later
    statement group of the same request (a catalog page) instead of acquiring a second one: each
    acquisition costs a reset round trip when the connection goes back to the pool.

    A lease is kept only while its request does nothing that waits for another pooled connection (the
    request policy releases it before any operation other than a catalog page runs), so requests holding
    leases can never starve each other of connections. Whoever takes the connection releases the lease; the
    request releases it at its end in any case."""

    def __init__(self) -> None:
        self._held: Any = None
        self.connection: Any = None

    async def acquire(self) -> Any:
        if self.connection is None:
            self._held = connections.get("default").acquire_connection()
            self.connection = await self._held.__aenter__()
        return self.connection

    async def release(self) -> None:
        held, self._held, self.connection = self._held, None, None
        if held is not None:
            await held.__aexit__(None, None, None)


async def pg_fetch(sql: str, *values: Any) -> list[Any]:
    """Run one PostgreSQL statement with asyncpg's own parameters (arrays included) on the current
    connection or transaction; returns asyncpg records (tuples by position). Bulk statements only."""
    async with connections.get("default").acquire_connection() as connection:
        rows: list[Any] = await connection.fetch(sql, *values)
        return rows
