"""Two-factor authentication in the browser: set it up in the profile with the key the page shows (the test is
the authenticator app), log in with a code, and turn it off again."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime

from browser import LANGUAGES, login, logout, shot
from conftest import PASSWORD
from playwright.async_api import Page, expect

from crypto import totp
from crypto.secret import SecretBytes
from models.audit import AuditEvent
from models.users import User
from resolvers import keystore


def app_code(key: str, step: int | None = None) -> str:
    """What an authenticator app shows for the typed key (base32, spaces allowed): now, or at ``step``."""
    compact = key.replace(" ", "")
    secret = SecretBytes(base64.b32decode(compact + "=" * (-len(compact) % 8)))
    return totp.code_at(secret, time.time() if step is None else step * totp.STEP_SECONDS)


async def last_step(user) -> int:
    """The step of the user's last accepted code: the test builds the used and the next code from it, so a
    30-second boundary passing during the test changes nothing."""
    step = (await User.get(id=user.id)).otp_last_step
    assert step is not None
    return step


async def set_up_otp(page: Page) -> str:
    await page.get_by_role("link", name="Profile").click()
    card = page.locator("section.otp-section")
    await expect(card.locator("[data-otp=off]")).to_be_visible()
    await card.get_by_label("Your password").fill("not my password")
    await card.get_by_role("button", name="Set up two-factor authentication").click()
    await expect(card.get_by_role("alert")).to_be_visible()  # wrong password: nothing set up
    await card.get_by_label("Your password").fill(PASSWORD)
    await card.get_by_role("button", name="Set up two-factor authentication").click()
    key = await card.locator("code.otp-secret").get_attribute("data-otp-secret")
    assert key and len(key) == 32
    link = re.compile(rf"^otpauth://totp/Meter%20KMS:keys_a%40example\.com\?.*secret={key}")
    await expect(card.locator("a.otp-link")).to_have_attribute("href", link)
    await card.get_by_label("Code from the app").fill(app_code(key))
    await card.get_by_role("button", name="Turn on").click()
    await expect(card.get_by_role("status")).to_contain_text("Two-factor authentication is on.")
    await expect(card.locator("[data-otp=on]")).to_be_visible()
    return key


async def test_a_user_sets_up_two_factor_authentication_and_logs_in_with_a_code(page, world):
    user = world.users["keys_a"]
    await login(page, user.email)
    first_key = await set_up_otp(page)

    # turning it off needs the password and a code the app has not given before
    card = page.locator("section.otp-section")
    await card.get_by_label("Your password").fill(PASSWORD)
    used = await last_step(user)
    await card.get_by_label("Code from the app").fill(app_code(first_key, used))  # used to turn it on
    await card.get_by_role("button", name="Turn off two-factor authentication").click()
    await expect(card.get_by_role("alert")).to_have_text("The one-time code is wrong.")
    assert (await User.get(id=user.id)).otp_enabled_at is not None
    await card.get_by_label("Code from the app").fill(app_code(first_key, used + 1))
    await card.get_by_role("button", name="Turn off two-factor authentication").click()
    await expect(card.get_by_role("status")).to_have_text("Two-factor authentication is off.")
    assert (await User.get(id=user.id)).otp_secret is None

    # set up again: a new key
    key = await set_up_otp(page)
    assert key != first_key
    stored = await User.get(id=user.id)
    assert stored.otp_enabled_at is not None and stored.otp_secret
    assert base64.b32decode(key) not in bytes(stored.otp_secret)  # sealed, not the key itself
    await shot(page, "otp-01-profile-on", "en")

    # the login now asks for the code; the code used to turn it on does not work twice
    await logout(page)
    await page.locator("input[name=email]").fill(user.email)
    await page.locator("input[name=password]").fill(PASSWORD)
    await page.locator("form.login button[type=submit]").click()
    await expect(page.get_by_role("alert")).to_have_text("Enter the one-time code from your authenticator app.")
    code = page.get_by_label("One-time code")
    await expect(code).to_be_focused()
    await shot(page, "otp-02-login-code", "en")
    used = await last_step(user)
    await code.fill(app_code(key, used))
    await page.locator("form.login button[type=submit]").click()
    await expect(page.get_by_role("alert")).to_have_text("The one-time code is wrong.")
    await code.fill(app_code(key, used + 1))  # the app's next code
    await page.locator("form.login button[type=submit]").click()
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
    assert await AuditEvent.filter(action="otp.enabled", target=f"user:{user.id}").count() == 2
    assert await AuditEvent.filter(action="otp.disabled", target=f"user:{user.id}").count() == 1


async def test_the_two_factor_card_in_all_four_languages(page, world):
    user = world.users["keys_a"]
    for language in LANGUAGES:
        await User.filter(id=user.id).update(language=language)
        await login(page, user.email)
        await page.goto("/console#/profile")
        await expect(page.locator("section.otp-section [data-otp=off]")).to_be_visible()
        await shot(page, "otp-03-profile-off", language)
        await logout(page)


async def test_an_admin_removes_a_lost_second_factor_on_the_user_page(page, world, settings):
    keys = world.users["keys_a"]
    sealed = totp.seal(totp.new_secret(), user_id=keys.id, server=keystore.server_secret(settings))
    await User.filter(id=keys.id).update(otp_secret=sealed, otp_enabled_at=datetime.now(UTC))
    await login(page, world.users["admin_a"].email)
    await page.goto(f"/console#/users/{keys.id}")
    card = page.locator("section.user-otp")
    await expect(card.locator("[data-otp=on]")).to_be_visible()
    await card.get_by_role("button", name="Remove two-factor authentication").click()
    await expect(card.get_by_role("status")).to_contain_text("Two-factor authentication of Keys A has been removed.")
    await expect(card.locator("[data-otp=off]")).to_be_visible()
    await expect(card.get_by_role("button", name="Remove two-factor authentication")).to_be_hidden()
    stored = await User.get(id=keys.id)
    assert stored.otp_enabled_at is None and stored.otp_secret is None
    assert await AuditEvent.filter(action="otp.reset", target=f"user:{keys.id}").count() == 1
