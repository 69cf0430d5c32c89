"""Fixtures of the console's browser tests: one `kms serve` subprocess and one headless Debian chromium
for the whole run (on the test database and data directory), and a fresh browser context per test
that fails the test on any script error, CSP violation or request leaving the server's origin."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port
from playwright.async_api import Browser, Page, async_playwright


@asynccontextmanager
async def start_server(
    settings, extra_env: dict[str, str] | None = None, log_dir: Path | None = None
) -> AsyncIterator[str]:
    """Run `kms serve` in a subprocess on the test database and data directory (same KEK, same secret) with
    `extra_env` on top (e.g. another KMS_PLUGINS); yields its base URL and stops it on exit."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "KMS_DATABASE_URL": settings.database_url,
        "KMS_DATA_DIR": str(settings.data_dir),
        "KMS_PUBLIC_URL": base,
        "KMS_MAIL_WORKER": "off",
        "KMS_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    log = Path(log_dir or tempfile.mkdtemp(prefix="kms-serve-")) / f"kms-serve-{port}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                if process.returncode is not None:
                    pytest.fail(f"kms serve exited with {process.returncode}:\n{log.read_text()}")
                try:
                    if (await http.get(f"{base}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                pytest.fail(f"kms serve did not answer on {base}:\n{log.read_text()}")
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture(scope="session")
async def server(settings, tmp_path_factory) -> AsyncIterator[str]:
    """`kms serve` in a subprocess, on the test database and data directory (same KEK, same secret)."""
    async with start_server(settings, log_dir=tmp_path_factory.mktemp("server")) as base:
        yield base


@pytest.fixture
def worker_settings(settings, server):
    """The settings of a mail worker beside `server` (which runs without one): the links of the mails it
    writes, such as a requested password reset's, lead to that server."""
    return dataclasses.replace(settings, public_url=server)


@pytest.fixture
def server_factory():
    """`async with server_factory(settings, {"KMS_PLUGINS": ...}) as base:` another `kms serve` for one test."""
    return start_server


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Debian chromium for the module (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (`make test` installs it)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@asynccontextmanager
async def open_page(browser: Browser, base: str) -> AsyncIterator[Page]:
    """A fresh browser context on `base`. At the end: no script error, no CSP violation and no request
    that left the server's origin."""
    context = await browser.new_context(
        base_url=base, accept_downloads=True, locale="en-GB", viewport={"width": 1280, "height": 860}
    )
    tab = await context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on(
        "request",
        lambda r: None if r.url.startswith((base, "data:", "blob:")) else problems.append(f"foreign request {r.url}"),
    )
    try:
        yield tab
    finally:
        await context.close()
    assert problems == []


@pytest.fixture
async def page(browser: Browser, server: str) -> AsyncIterator[Page]:
    """A fresh browser context per test (see open_page)."""
    async with open_page(browser, server) as tab:
        yield tab


@pytest.fixture
def page_factory(browser: Browser):
    """`async with page_factory(base) as page:` a checked browser tab on another server."""
    return lambda base: open_page(browser, base)
