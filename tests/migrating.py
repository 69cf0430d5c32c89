"""Migrations run on a database that holds rows written under an earlier schema.

Each case is a script run in a process of its own (migrations open and close Tortoise's connections) on a new
database of the kind under test. The script gets the database URL as its only argument, uses ``migrate_to``
and ``insert`` below to write the old rows, migrates to the end and prints what the test compares.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


async def run_on_new_database(script: str, tmp_path: Path) -> str:
    """Run ``script`` against a database made for it (dropped afterwards) and return what it printed."""
    import asyncpg

    from tests.conftest import PG_ADMIN_URL, TEST_DB

    name = f"kms_test_migration_{uuid.uuid4().hex[:8]}"
    if TEST_DB == "postgres":
        admin = await asyncpg.connect(PG_ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite://{tmp_path / name}.sqlite3"
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, url, cwd=ROOT, stdout=PIPE, stderr=PIPE
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), 120)
        finally:
            if process.returncode is None:  # hung: it must not outlive the test
                process.kill()
                await process.wait()
        assert process.returncode == 0, err.decode()
        return out.decode()
    finally:
        if TEST_DB == "postgres":
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


# --- used inside the scripts ----------------------------------------------------------------------------------


async def migrate_to(url: str, target: str | None = None) -> Any:
    """Migrate to ``target`` (a migration's name; None: the last) and return a connection to write or read
    rows with (close it with ``Tortoise.close_connections()``)."""
    from tortoise import Tortoise, connections
    from tortoise.migrations.api import migrate

    from models.db import tortoise_config

    await migrate(config=tortoise_config(url), target=f"models.{target}" if target else None)
    await Tortoise.close_connections()
    await Tortoise.init(config=tortoise_config(url))
    return connections.get("default")


async def insert(sql: Any, table: str, **values: object) -> None:
    """One row, in the column types of both databases (SQLite stores ids and times as text)."""
    pg = sql.capabilities.dialect == "postgres"
    marks = ", ".join(f"${i + 1}" if pg else "?" for i in range(len(values)))
    plain = [v if pg or isinstance(v, (str, bool)) or v is None else str(v) for v in values.values()]
    await sql.execute_query(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({marks})", plain)


def run(main: Any) -> None:
    """Run the script's ``main()`` and close the connections whatever happens (an open SQLite connection's
    thread would keep a failed script's process alive until the test gives up on it)."""
    from tortoise import Tortoise

    async def closing() -> None:
        try:
            await main()
        finally:
            await Tortoise.close_connections()

    asyncio.run(closing())
