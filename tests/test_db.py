"""Database set-up (models/db.py): migrations run by several hosts at once."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import PG_ADMIN_URL, TEST_DB

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = sorted(p.stem for p in (ROOT / "models" / "migrations").glob("0*.py"))


async def kms_migrate(url: str, data_dir: Path) -> tuple[int, str]:
    env = {**os.environ, "KMS_DATABASE_URL": url, "KMS_DATA_DIR": str(data_dir), "KMS_LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "migrate", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    return process.returncode or 0, stderr.decode()


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite serves one host: nobody migrates beside it")
async def test_hosts_migrating_one_empty_database_at_once_take_turns(tmp_path):
    # given: an empty database
    name = f"kms_test_migrate_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        # when: three hosts start together, each running `kms migrate`
        results = await asyncio.gather(*(kms_migrate(url, tmp_path / str(i)) for i in range(3)))
        # then: each succeeds, and every migration was applied once
        assert [code for code, _ in results] == [0, 0, 0], [err for _, err in results]
        conn = await asyncpg.connect(url)
        try:
            applied = await conn.fetch("SELECT name FROM tortoise_migrations ORDER BY name")
        finally:
            await conn.close()
        assert [row["name"] for row in applied] == MIGRATIONS
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
