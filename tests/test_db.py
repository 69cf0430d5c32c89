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


async def test_serve_refuses_several_workers_on_the_embedded_sqlite_database(tmp_path):
    # several processes on one SQLite file fail each other's writes ("database is locked") instead of waiting
    env = {
        **os.environ,
        "KMS_DATABASE_URL": f"sqlite://{tmp_path / 'kms.sqlite3'}",
        "KMS_DATA_DIR": str(tmp_path),
        "KMS_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "cli", "serve", "--workers", "2", "--port", "0"),
        cwd=ROOT,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:  # it serves: stop it (and its workers) before failing
            process.terminate()
            await process.wait()
    assert process.returncode == 2 and "SQLite database serves one process" in stderr.decode()


def test_an_app_built_in_a_fresh_process_logs_at_the_configured_level(tmp_path):
    """A worker process of `kms serve --workers N` builds the app without the command line's set-up."""
    import subprocess

    script = (
        "import logging; from app import create_app; from settings import load; create_app(load()); "
        "root = logging.getLogger(); print(logging.getLevelName(root.level), len(root.handlers))"
    )
    env = {**os.environ, "KMS_DATA_DIR": str(tmp_path), "KMS_LOG_LEVEL": "DEBUG"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["DEBUG", "1"]
