"""Helpers for the console's browser tests (tests/console/): Debian chromium's path and arguments,
logging in and out, and screenshots to test-artifacts/screenshots/. The fixtures (`server`, `browser`,
`page`) are in tests/console/conftest.py."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from conftest import PASSWORD
from playwright.async_api import Page, expect

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
NEW_PASSWORD = "Fresh-Meter-Keys-2024!"
LANGUAGES = ["EN", "DE", "ES", "SV"]
# A word of each language's devices page, to see the language really changed.
DEVICES_TITLE = {"EN": "Devices", "DE": "Geräte", "ES": "Dispositivos", "SV": "Enheter"}

expect.set_options(timeout=10_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def login(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/console#/login")
    await page.locator("input[name=email]").fill(email)
    await page.locator("input[name=password]").fill(password)
    await page.locator("form.login button[type=submit]").click()
    await expect(page.locator("form.login")).to_have_count(0)


async def logout(page: Page) -> None:
    await page.locator("[data-menu=logout]").click()
    await expect(page.locator("form.login")).to_be_visible()


async def shot(page: Page, name: str, language: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-{language.lower()}.png"), full_page=True)


# The catalog's filter bar (manual 10.2): each filter by the name it shows, and its data-facet.
FILTERS = {
    "Serial number": "serial",
    "Device type": "deviceType",
    "Claim status": "claimStatus",
    "Labels": "label",
    "Batch reference": "batch",
}


async def open_filter(page: Page, name: str):
    """Open "<name>: …" in the catalog's filter bar; its panel (search bar and proposals)."""
    chip = page.locator(f"details[data-facet={FILTERS[name]}]")
    if not await chip.evaluate("d => d.open"):
        await chip.locator(":scope > summary").click()
    return chip


async def tick(page: Page, name: str, value: str, on: bool = True) -> None:
    """Tick (or untick) the proposal ``value`` of a filter, shown as "value (count)"."""
    chip = await open_filter(page, name)
    box = chip.get_by_label(re.compile(rf"^{re.escape(value)} \(\d[\d,.]*\)$"))
    await (box.check() if on else box.uncheck())
