"""Developer tools > Demo mailbox in a real browser: with no SMTP server configured (the test server has
none) the mails the outbox delivers into the demo mailbox are listed newest first and open with their text
part and their HTML part rebuilt safely, links clickable. Platform administrators only."""

from __future__ import annotations

import re
import uuid

from browser import LANGUAGES, login, logout, shot
from mailtest import deliver_to_mailbox
from playwright.async_api import Page, expect

from models.users import User
from resolvers.smtp import Mailbox

TITLE = {"EN": "Demo mailbox", "DE": "Demo-Postfach", "ES": "Buzón de demostración", "SV": "Demobrevlåda"}
RESET = "mutation($e: String!) { requestPasswordReset(email: $e) }"


async def choose(page: Page, template: str, action: str) -> None:
    await page.locator(f'tr[data-template="{template}"] .tpl-menu-trigger').click()
    await page.get_by_role("menu", name=re.compile(re.escape(template))).get_by_role("menuitem", name=action).click()


async def test_a_test_email_and_a_reset_mail_appear_in_the_demo_mailbox_and_open(
    worker_settings, page, world, settings, server
):
    admin = world.users["platform_admin"]
    address = f"mailbox-{uuid.uuid4().hex[:8]}@example.com"
    await login(page, admin.email)
    # a test email sent from Email templates ...
    await page.goto("/console#/templates?type=NEW_BATCH&language=DE")
    await choose(page, "System Default New Batch Email (de)", "Send test email")
    dialog = page.get_by_role("dialog", name="Send test email")
    await dialog.get_by_label("Email address of the recipient").fill(address)
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("status")).to_contain_text(address)
    # ... and a password reset mail, whose link leads back to this service
    response = await page.request.post(
        "/graphql", data={"query": RESET, "variables": {"e": world.users["keys_a"].email}}
    )
    assert response.ok and (await response.json())["data"] == {"requestPasswordReset": True}
    assert await deliver_to_mailbox(worker_settings) == 2  # what the mail worker would do

    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Demo mailbox").click()
    await expect(page.get_by_role("heading", name="Demo mailbox")).to_be_visible()
    rows = page.locator("tr[data-mail]")
    newest = [m for m in Mailbox(settings.mailbox_dir).latest(2)]
    assert [m.to for m in newest] == [world.users["keys_a"].email, address]
    await expect(rows.nth(0)).to_have_attribute("data-to", world.users["keys_a"].email)
    await expect(rows.nth(1)).to_have_attribute("data-to", address)
    await expect(rows.nth(1)).to_contain_text(newest[1].subject)

    # the test email opens: recipient, subject, HTML part (no script), text part
    await rows.nth(1).get_by_role("link", name=newest[1].subject).click()
    await expect(page.get_by_role("heading", name="Email in the demo mailbox")).to_be_visible()
    mail = page.locator("article.mail")
    await expect(mail).to_contain_text(address)
    await expect(mail.locator(".mail-subject")).to_have_text(newest[1].subject)
    await expect(mail.locator("[data-part=html]")).to_contain_text("BR-2026-0042")
    await expect(mail.locator("[data-part=text]")).to_have_text(newest[1].text.strip())
    assert await mail.locator("[data-part=html] script").count() == 0
    # inline styles of the allowed CSS properties are shown (applied through CSSOM, no CSP report)
    button = mail.locator("[data-part=html] a", has_text="Charge prüfen")
    assert await button.evaluate("a => getComputedStyle(a).backgroundColor") == "rgb(11, 92, 173)"

    # the reset mail's link is clickable and opens the service's reset page in a new tab
    await page.get_by_role("link", name="Back to the mailbox").click()
    await rows.nth(0).get_by_role("link").click()
    link = page.locator("[data-part=html] a", has_text=re.compile(".")).first
    await expect(link).to_have_attribute("href", re.compile(rf"^{re.escape(server)}/reset-password\?token="))
    await expect(link).to_have_attribute("target", "_blank")
    async with page.context.expect_page() as opened:
        await link.click()
    tab = await opened.value
    await expect(tab).to_have_url(re.compile(r"/console#/reset-password\?token="))
    await tab.close()


async def test_only_platform_admins_see_the_demo_mailbox(page, world):
    await login(page, world.users["admin_a"].email)
    await expect(page.get_by_role("link", name="Email templates")).to_be_visible()
    await expect(page.get_by_role("link", name="Demo mailbox")).to_have_count(0)
    await page.goto("/console#/mailbox")
    await expect(page.get_by_role("heading", name="Not available")).to_be_visible()


async def test_mailbox_screens_in_all_four_languages(page, world, as_user, worker_settings):
    admin = world.users["platform_admin"]
    api = await as_user("platform_admin")
    await api.ok(RESET, {"e": world.users["viewer_a"].email})
    await deliver_to_mailbox(worker_settings)
    for language in LANGUAGES:
        await User.filter(id=admin.id).update(language=language)
        await login(page, admin.email)
        await page.goto("/console#/mailbox")
        await expect(page.get_by_role("heading", name=TITLE[language], exact=True)).to_be_visible()
        await expect(page.locator("tr[data-mail]").first).to_be_visible()
        await shot(page, "mailbox-01-list", language)
        await page.locator("tr[data-mail] a").first.click()
        await expect(page.locator("article.mail [data-part=html]")).to_be_visible()
        await shot(page, "mailbox-02-mail", language)
        await logout(page)
