"""Admin > Invites in the browser (manual 9.4, 9.5, 7.1): an admin prepares an invite, reviews it (signup
link, template, email preview), sends it; the mail really arrives (the test runs the outbox into the demo
mailbox), the invitee opens the mailed link, creates the account and logs in. A used or cancelled link is
refused with a clear message."""

from __future__ import annotations

import re

from browser import LANGUAGES, NEW_PASSWORD, login, logout, shot
from mailtest import delivered_mail, link_in
from playwright.async_api import expect

from models.invites import Invite
from models.users import User


def path_of(link: str) -> str:
    """An API client's signup link (made with the test settings' public URL) as a path on the test server."""
    return "/" + link.split("/", 3)[3]


CREATE = """mutation($input: CreateInviteInput!) { createInvite(input: $input) { id signupLink } }"""


def invite_input(world, name="Nawel Haddad", email="nawel@integra.example", org="customer_a_sub", language="EN"):
    return {
        "input": {
            "name": name,
            "email": email,
            "organisationId": str(world.orgs[org].id),
            "roles": ["KEY_MANAGER"],
            "language": language,
        }
    }


async def test_admin_invites_sends_and_the_invitee_signs_up_from_the_mail(page, world, settings):
    # given
    await login(page, world.users["admin_a"].email)
    menu = page.get_by_role("navigation", name="Main menu")
    await expect(menu.get_by_role("link", name="Invites")).to_be_visible()
    admin_entries = await menu.locator("[data-section=admin] a").all_inner_texts()
    assert admin_entries.index("Invites") == admin_entries.index("Users") + 1  # right after Users
    await menu.get_by_role("link", name="Invites").click()
    await expect(page.get_by_role("heading", name="Invites")).to_be_visible()
    await expect(page.get_by_text("No invites yet.")).to_be_visible()
    await expect(page.locator("[data-total=invites]")).to_have_text("Total invites: 0")

    # when: + Add invite
    await page.get_by_role("link", name="+ Add invite").click()
    await expect(page.get_by_role("heading", name="Add invite")).to_be_visible()
    await page.get_by_text("Which organisations can I invite users to?").click()
    help_list = page.locator("[data-help=invitable] li")
    await expect(help_list).to_have_text(["Customer A", "Customer A Sub"])  # not Customer B, not the platform
    await expect(page.get_by_label("Platform admin")).to_have_count(0)
    await expect(page.get_by_text("prepared state")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Nawel Haddad")
    await page.get_by_label("Email address (optional)").fill("Nawel@Integra.example")
    await page.get_by_label("Organisation", exact=True).select_option(label="Customer A Sub")
    await page.get_by_label("Key manager").check()
    await page.get_by_label("User language").select_option("EN")
    await page.get_by_role("button", name="Save").click()

    # then: the review page of the PREPARED invite
    await expect(page.get_by_role("heading", name="Invite", exact=True)).to_be_visible()
    invite = await Invite.get(name="Nawel Haddad").prefetch_related("organisation")
    assert invite.state == "PREPARED" and invite.email == "nawel@integra.example"
    assert invite.roles.strip(",") == "KEY_MANAGER" and invite.organisation.name == "Customer A Sub"
    await expect(page).to_have_url(re.compile(rf"#/invites/{invite.id}$"))
    await expect(page.locator("[data-fact=state]")).to_have_text("Prepared")
    await expect(page.locator("[data-fact=organisation]")).to_have_text("Customer A Sub")
    await expect(page.locator("[data-fact=roles]")).to_have_text("Key manager")
    await expect(page.locator("[data-fact=template]")).to_have_text("System Default Invite Email (en)")
    link_field = page.get_by_label("Signup link")
    signup_link = await link_field.input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/signup\?token=[A-Za-z0-9_\-]+", signup_link)

    # the Copy button puts the link on the clipboard
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_text("The link has been copied.")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == signup_link

    # PREVIEW EMAIL shows the rendered mail (HTML copied through an allowlist, and the text part)
    await page.get_by_role("button", name="Preview email").click()
    preview = page.get_by_role("region", name="Email preview")
    await expect(preview.locator("[data-fact=subject]")).to_have_text("Your invitation to Meter KMS (Customer A Sub)")
    await expect(preview.locator(".email-body")).to_contain_text("Nawel Haddad")
    await expect(preview.locator(f".email-body a[href='{signup_link}']")).to_have_count(1)
    assert await preview.locator(".email-body img, .email-body script").count() == 0
    # the mail's inline styles are kept (applied through CSSOM: the page fixture fails on any CSP report)
    assert await preview.locator(".email-body [style]").count() > 0
    await expect(page.get_by_role("button", name="Preview email")).to_have_attribute("aria-expanded", "true")

    # when: SEND
    await expect(page.get_by_label("Email address", exact=True)).to_have_value("nawel@integra.example")
    await page.get_by_role("button", name="Send").click()
    # then
    await expect(
        page.get_by_role("status").filter(has_text="We sent an email to nawel@integra.example.")
    ).to_be_visible()
    await expect(page.locator("[data-fact=state]")).to_have_text("Sent")
    assert (await Invite.get(id=invite.id)).state == "SENT"
    await expect(page.get_by_role("button", name="Send again")).to_be_visible()  # a SENT invite is still open
    mail = await delivered_mail(settings, "nawel@integra.example")
    assert mail.subject == "Your invitation to Meter KMS (Customer A Sub)"
    mailed_link = link_in(mail, "signup")
    assert mailed_link == signup_link

    # and the list shows it
    await page.get_by_role("link", name="Back to invites").click()
    await expect(page.locator("tr[data-invite='Nawel Haddad'] [data-state]")).to_have_text("Sent")
    await expect(page.locator("tr[data-invite='Nawel Haddad']")).to_contain_text(
        "nawel@integra.exampleCustomer A SubKey manager"
    )
    await logout(page)

    # when: the invitee opens the mailed link and signs up
    await page.goto(mailed_link)
    await expect(page).to_have_url(re.compile(r"/console#/signup\?token="))
    await expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    await page.get_by_label("Email", exact=True).fill("nawel@integra.example")
    rule = lambda name: page.locator(f".password-rules li[data-rule={name}]")  # noqa: E731
    await page.get_by_label("Password", exact=True).fill("Nawel-Meter-2026!")
    await expect(rule("email")).to_have_attribute("data-ok", "false")  # contains the name of the address
    await page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Confirm password").fill(NEW_PASSWORD)
    await expect(page.locator(".password-rules li[data-ok=false]")).to_have_count(0)
    await page.get_by_role("button", name="Create account").click()
    # then: logged in as the new user
    await expect(
        page.get_by_role("status").filter(has_text="Welcome, Nawel Haddad! Your account is ready.")
    ).to_be_visible()
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
    await expect(page.get_by_text("Signed in as Nawel Haddad, Customer A Sub")).to_be_visible()
    user = await User.get(email="nawel@integra.example").prefetch_related("organisation")
    assert user.role_list == ["KEY_MANAGER"] and user.organisation.name == "Customer A Sub"
    assert not user.must_change_password
    assert (await Invite.get(id=invite.id)).state == "ACCEPTED"
    await logout(page)
    await login(page, "nawel@integra.example", NEW_PASSWORD)
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
    await logout(page)

    # when: the link a second time
    await page.goto(mailed_link)
    await page.get_by_label("Email", exact=True).fill("someone.else@integra.example")
    await page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Confirm password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    # then
    await expect(page.get_by_role("alert")).to_have_text(
        "This invitation link is unknown, already used, cancelled or expired. "
        "Ask the person who invited you for a new invitation."
    )
    assert await User.filter(email="someone.else@integra.example").count() == 0


async def test_a_prepared_invite_is_corrected_before_sending_and_a_sent_one_is_not(page, world, as_user, settings):
    # given: an invite prepared with a mistyped address and the wrong role
    api = await as_user("admin_a")
    created = (await api.ok(CREATE, invite_input(world, email="nawel@integra.exmaple")))["createInvite"]
    await login(page, world.users["admin_a"].email)
    await page.goto(f"/console#/invites/{created['id']}")
    # when: Edit invite, the address, organisation and role corrected
    await page.get_by_role("link", name="Edit invite").click()
    await expect(page.get_by_role("heading", name="Edit invite")).to_be_visible()
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Nawel Haddad")
    await expect(page.get_by_label("Key manager")).to_be_checked()
    await page.get_by_label("Email address (optional)").fill("nawel@integra.example")
    await page.get_by_label("Organisation", exact=True).select_option(label="Customer A")
    await page.get_by_label("Key manager").uncheck()
    await page.get_by_label("Viewer").check()
    await page.get_by_role("button", name="Save").click()
    # then: back on the review page, with the corrections and a new link
    await expect(page.get_by_text("The invite has been saved.")).to_be_visible()
    await expect(page.locator("[data-fact=organisation]")).to_have_text("Customer A")
    await expect(page.locator("[data-fact=roles]")).to_have_text("Viewer")
    invite = await Invite.get(id=created["id"]).prefetch_related("organisation")
    assert (invite.email, invite.roles.strip(","), invite.organisation.name) == (
        "nawel@integra.example",
        "VIEWER",
        "Customer A",
    )
    await expect(page.get_by_label("Signup link")).not_to_have_value(created["signupLink"])
    # once sent, it is not offered for editing any more
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("[data-fact=state]")).to_have_text("Sent")
    await expect(page.get_by_role("link", name="Edit invite")).to_have_count(0)
    await page.goto(f"/console#/invites/{created['id']}/edit")
    await expect(page.get_by_role("alert")).to_contain_text("Only an invite that has not been sent can be changed")


async def test_a_cancelled_invite_link_is_refused(page, world, as_user):
    # given
    api = await as_user("admin_a")
    created = (await api.ok(CREATE, invite_input(world, email=None)))["createInvite"]
    await login(page, world.users["admin_a"].email)
    await page.goto(f"/console#/invites/{created['id']}")
    await expect(page.locator("[data-fact=state]")).to_have_text("Prepared")
    # when: cancel, keep it after all, then cancel and confirm
    await page.get_by_role("button", name="Cancel invite").click()
    await expect(page.get_by_text("Cancel this invite? Its signup link stops working")).to_be_visible()
    await page.get_by_role("button", name="Keep invite").click()
    await expect(page.get_by_role("button", name="Cancel invite")).to_be_focused()
    assert (await Invite.get(id=created["id"])).state == "PREPARED"
    await page.get_by_role("button", name="Cancel invite").click()
    await page.get_by_role("button", name="Yes, cancel invite").click()
    # then
    await expect(page.get_by_role("status").filter(has_text="The invite has been cancelled")).to_be_visible()
    await expect(page.locator("[data-fact=state]")).to_have_text("Cancelled")
    await expect(page.get_by_label("Signup link")).to_have_count(0)
    await expect(page.get_by_role("button", name="Send")).to_have_count(0)
    assert (await Invite.get(id=created["id"])).state == "CANCELLED"
    await logout(page)
    await page.goto(path_of(created["signupLink"]))
    await page.get_by_label("Email", exact=True).fill("late@integra.example")
    await page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Confirm password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("alert")).to_contain_text("This invitation link is unknown, already used, cancelled")
    assert await User.filter(email="late@integra.example").count() == 0


async def test_an_invite_without_address_asks_for_one_and_a_taken_address_is_refused(page, world, as_user):
    api = await as_user("admin_a")
    created = (await api.ok(CREATE, invite_input(world, email=None)))["createInvite"]
    await login(page, world.users["admin_a"].email)
    await page.goto(f"/console#/invites/{created['id']}")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("alert")).to_have_text("Please check the field “Email”.")
    await page.get_by_label("Email address", exact=True).fill(world.users["keys_a"].email)
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("alert")).to_have_text("Another user already has this email address.")
    assert (await Invite.get(id=created["id"])).state == "PREPARED"


async def test_a_key_manager_sees_no_invites(page, world):
    await login(page, world.users["keys_a"].email)
    await expect(page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Invites")).to_have_count(0)
    await page.goto("/console#/invites")
    await expect(page.get_by_role("heading", name="Not available")).to_be_visible()


async def test_invite_screens_in_all_four_languages(page, world, as_user):
    admin = world.users["admin_a"]
    api = await as_user("admin_a")
    for language in LANGUAGES:
        created = await api.ok(CREATE, invite_input(world, name=f"Invitee {language}", email=None, language=language))
        invite_id = created["createInvite"]["id"]
        signup_link = created["createInvite"]["signupLink"]
        await User.filter(id=admin.id).update(language=language)
        await login(page, admin.email)
        await page.goto("/console#/invites")
        await expect(page.locator(f"tr[data-invite='Invitee {language}']")).to_be_visible()
        await shot(page, "invites-01-list", language)
        await page.goto("/console#/invites/new")
        await page.locator("details[data-help=invitable] summary").click()
        await expect(page.locator("details[data-help=invitable] li").first).to_be_visible()
        await shot(page, "invites-02-add", language)
        await page.goto(f"/console#/invites/{invite_id}")
        await page.locator("[data-action=preview]").click()
        await expect(page.locator(".email-body")).to_contain_text(f"Invitee {language}")
        await shot(page, "invites-03-review", language)
        await logout(page)
        await page.goto(path_of(signup_link))
        await expect(page.locator("form.signup-form")).to_be_visible()
        await page.locator("input[name=newPassword]").press_sequentially("Meter-K")
        await shot(page, "invites-04-signup", language)
