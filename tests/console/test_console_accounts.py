"""The public account pages behind email links, in the browser: "Forgot password?" on the login screen, the
reset link from the mail, and the confirmation link of a changed email address; used or unknown links show
a translated error.

Mails really go out: the server runs without a mail worker and without SMTP, so the test runs the outbox
once itself (resolvers/outbox.py, the demo mailbox transport) and reads the mail from the demo mailbox in
settings.mailbox_dir, as `kms mailbox` would."""

from __future__ import annotations

import re

from browser import LANGUAGES, NEW_PASSWORD, login, logout, shot
from conftest import PASSWORD
from mailtest import delivered_mail, link_in, mailbox_mails
from playwright.async_api import Page, expect

from crypto import passwords
from models.invites import AccountToken
from models.users import User


async def request_reset(page: Page, email: str) -> None:
    await page.goto("/console#/login")
    await page.get_by_role("link", name="Forgot password?").click()
    await expect(page.get_by_role("heading", name="Forgot password")).to_be_visible()
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_role("button", name="Send link").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"If an account exists for {email}, we have sent it a link to choose a new password. "
        "The link works once, for one hour."
    )


async def test_forgot_password_mail_reset_and_login_with_the_new_password(page, world, worker_settings):
    # given
    user = world.users["keys_a"]
    # when: "Forgot password?" on the login screen
    await request_reset(page, user.email)
    mail = await delivered_mail(worker_settings, user.email)
    link = link_in(mail, "reset-password")
    # then: the mailed link opens the reset screen with its token
    await page.goto(link)
    await expect(page).to_have_url(re.compile(r"/console#/reset-password\?token="))
    await expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    rule = lambda name: page.locator(f".password-rules li[data-rule={name}]")  # noqa: E731
    await page.get_by_label("New password", exact=True).press_sequentially("short")
    await expect(rule("length")).to_have_attribute("data-ok", "false")
    await expect(rule("lower")).to_have_attribute("data-ok", "true")
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    await expect(page.locator(".password-rules li[data-ok=false]")).to_have_count(0)
    await page.get_by_role("button", name="Set new password").click()
    # then: back on the login, and the new password works, the old one not
    await expect(page.get_by_role("status")).to_have_text(
        "Your password has been reset. Log in with your new password."
    )
    await expect(page.locator("form.login")).to_be_visible()
    saved = await User.get(id=user.id)
    assert await passwords.verify_password(NEW_PASSWORD, saved.password_hash)
    assert not await passwords.verify_password(PASSWORD, saved.password_hash)
    await login(page, user.email, NEW_PASSWORD)
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
    await logout(page)

    # when: the same link a second time
    await page.goto(link)
    await page.get_by_label("New password", exact=True).fill("Another-Meter-Key-77!")
    await page.get_by_label("Confirm new password").fill("Another-Meter-Key-77!")
    await page.get_by_role("button", name="Set new password").click()
    # then
    await expect(page.get_by_role("alert")).to_have_text(
        "This password reset link is unknown, already used or expired. Ask for a new one."
    )
    await expect(page.get_by_role("link", name="Ask for a new link")).to_be_visible()
    assert await passwords.verify_password(NEW_PASSWORD, (await User.get(id=user.id)).password_hash)


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(page, world, worker_settings):
    await request_reset(page, "nobody@example.com")
    assert len(await mailbox_mails(worker_settings, "nobody@example.com")) == 0


async def test_a_weak_password_keeps_the_reset_link_usable(page, world, worker_settings):
    user = world.users["viewer_a"]
    await request_reset(page, user.email)
    link = link_in(await delivered_mail(worker_settings, user.email), "reset-password")
    await page.goto(link)
    # the rules are met, but the server also refuses common passwords and the email's name
    await page.get_by_label("New password", exact=True).fill("Viewer_a-2026-Meter!")
    await page.get_by_label("Confirm new password").fill("Viewer_a-2026-Meter!")
    await page.get_by_role("button", name="Set new password").click()
    await expect(page.get_by_role("alert")).to_contain_text("This password is too weak")
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Set new password").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Your password has been reset. Log in with your new password."
    )
    assert await passwords.verify_password(NEW_PASSWORD, (await User.get(id=user.id)).password_hash)


async def test_a_changed_email_address_is_confirmed_with_the_mailed_link(page, world, worker_settings):
    # given: an admin changes the address of keys_a
    user = world.users["keys_a"]
    await login(page, world.users["admin_a"].email)
    await page.goto(f"/console#/users/{user.id}")
    await page.get_by_label("Email", exact=True).fill("keys.moved@example.com")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("We sent a confirmation link to keys.moved@example.com")
    await logout(page)
    # when: the link from the mail to the new address
    link = link_in(await delivered_mail(worker_settings, "keys.moved@example.com"), "confirm-email")
    await page.goto(link)
    # then
    await expect(page.get_by_role("heading", name="Confirm email address")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text(
        "Your email address has been confirmed. Log in with it from now on."
    )
    assert (await User.get(id=user.id)).email == "keys.moved@example.com"
    assert await AccountToken.filter(user_id=user.id, used_at__isnull=True).count() == 0
    await page.get_by_role("link", name="Go to the login").click()
    await login(page, "keys.moved@example.com")
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
    await logout(page)
    # when: the link again
    await page.goto(link)
    await expect(page.get_by_role("alert")).to_have_text(
        "This confirmation link is unknown, already used or expired. Change the address again in your profile, or ask "
        "your administrator to."
    )


async def test_a_user_changes_their_own_email_in_the_profile(page, world, worker_settings):
    # given: a key manager in the profile (manual 9.2)
    user = world.users["keys_a"]
    await login(page, user.email)
    await page.goto("/console#/profile")
    section = page.locator("section.profile-email")
    await expect(section.get_by_role("heading", name="Change email address")).to_be_visible()
    # when: a wrong password first, then the right one
    await section.get_by_label("New email address").fill("kim.keys@example.com")
    await section.get_by_label("Current password").fill("Not-The-Password-1!")
    await section.get_by_role("button", name="Send the link").click()
    await expect(section.get_by_role("alert")).to_be_visible()
    assert not await AccountToken.filter(user_id=user.id, new_email="kim.keys@example.com").exists()
    await section.get_by_label("Current password").fill(PASSWORD)
    await section.get_by_role("button", name="Send the link").click()
    await expect(section.get_by_role("status")).to_contain_text("We sent a link to kim.keys@example.com")
    # then: the address changes once the mailed link is opened
    assert (await User.get(id=user.id)).email == user.email
    await page.goto(link_in(await delivered_mail(worker_settings, "kim.keys@example.com"), "confirm-email"))
    await expect(page.get_by_role("status")).to_have_text(
        "Your email address has been confirmed. Log in with it from now on."
    )
    assert (await User.get(id=user.id)).email == "kim.keys@example.com"


async def test_links_without_or_with_an_unknown_token_show_a_clear_error(page, world):
    await page.goto("/confirm-email?token=kms_cfm_not-a-real-token")
    await expect(page.get_by_role("alert")).to_contain_text("This confirmation link is unknown")
    await page.goto("/console#/reset-password")
    await expect(page.get_by_role("alert")).to_contain_text("This password reset link is unknown")
    await page.goto("/console#/signup")
    await expect(page.get_by_role("alert")).to_contain_text("This invitation link is unknown")
    await page.goto("/console#/reset-password?token=kms_rst_not-a-real-token")
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Set new password").click()
    await expect(page.get_by_role("alert")).to_contain_text("This password reset link is unknown")


async def test_account_pages_in_all_four_languages(page, world, worker_settings):
    user = world.users["keys_a"]
    await page.goto("/console#/login")
    for language in LANGUAGES:
        await page.goto("/console#/login")
        await page.locator("select[name=language]").select_option(language)
        await expect(page.locator("html")).to_have_attribute("lang", language.lower())
        await page.locator("[data-action=forgot-password]").click()
        await expect(page.locator("form.forgot-form")).to_be_visible()
        await page.locator("input[name=email]").fill(user.email)
        await shot(page, "accounts-01-forgot-password", language)
        await page.locator("form.forgot-form button[type=submit]").click()
        await expect(page.locator("[data-fact=resetRequested]")).to_be_visible()
        await shot(page, "accounts-02-reset-requested", language)
        link = link_in(await delivered_mail(worker_settings, user.email), "reset-password")
        await page.goto(link)
        await page.locator("input[name=newPassword]").press_sequentially("Meter-K")
        await shot(page, "accounts-03-reset-password", language)
        await page.goto("/console#/confirm-email?token=kms_cfm_unknown")
        await expect(page.locator(".confirm-result [role=alert]")).to_be_visible()
        await shot(page, "accounts-04-confirm-email-error", language)
