"""Admin > Users in the browser (manual 9.2, 9.3): an admin opens a user from the list, edits the details and
roles (never above their own), and sets the user's password with the policy shown live; the database holds
the result and the user must change the password at the next login."""

from __future__ import annotations

import re

from browser import LANGUAGES, NEW_PASSWORD, login, logout, shot
from conftest import PASSWORD
from playwright.async_api import expect

from crypto import passwords
from models.invites import AccountToken
from models.users import User


async def test_admin_edits_a_user_from_the_list(page, world):
    # given
    keys = world.users["keys_a"]
    await login(page, world.users["admin_a"].email)
    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Users").click()
    # when: the row's "Edit user" button
    await page.get_by_role("link", name="Edit user Keys A").click()
    # then
    await expect(page).to_have_url(re.compile(rf"#/users/{keys.id}$"))
    await expect(page.get_by_role("heading", name="Edit user")).to_be_visible()
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Keys A")
    await expect(page.get_by_label("Key manager")).to_be_checked()
    await expect(page.get_by_label("Platform admin")).to_have_count(0)  # roles only up to the admin's own
    await expect(page.get_by_label("Active (can log in)")).to_be_checked()

    # when: new name, organisation, roles, language and CSV settings
    await page.get_by_label("Name", exact=True).fill("Keys Anderson")
    await page.get_by_label("Organisation", exact=True).select_option(label="Customer A Sub")
    await page.get_by_label("Key manager").uncheck()
    await page.get_by_label("Viewer").check()
    await page.get_by_label("User language").select_option("ES")
    await page.get_by_label("CSV column delimiter").select_option(",")
    await page.get_by_label("CSV thousands separator").select_option(".")
    await page.get_by_role("button", name="Save").click()
    # then
    await expect(page.get_by_role("status").filter(has_text="Keys Anderson has been saved.")).to_be_visible()
    saved = await User.get(id=keys.id).prefetch_related("organisation")
    assert saved.name == "Keys Anderson" and saved.role_list == ["VIEWER"] and saved.language == "ES"
    assert saved.csv_delimiter == "," and saved.csv_thousands_separator == "."
    assert saved.organisation.name == "Customer A Sub" and saved.email == keys.email

    # when: saving again without a change, nothing is sent
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status").filter(has_text="Nothing has changed.")).to_be_visible()

    # when: a new email address, which only takes effect once confirmed from that address
    await page.get_by_label("Email", exact=True).fill("keys.new@example.com")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("We sent a confirmation link to keys.new@example.com")
    assert (await User.get(id=keys.id)).email == keys.email
    assert await AccountToken.filter(user_id=keys.id, new_email="keys.new@example.com").count() == 1

    # and the list shows the changes
    await page.get_by_role("link", name="Back to users").click()
    await expect(page.locator(f"tr[data-user='{keys.email}']")).to_contain_text("Keys Anderson")
    await expect(page.locator(f"tr[data-user='{keys.email}']")).to_contain_text("Customer A SubViewer")


async def test_admin_deactivates_a_user_and_the_user_cannot_log_in(page, world):
    viewer = world.users["viewer_a"]
    await login(page, world.users["admin_a"].email)
    await page.goto(f"/console#/users/{viewer.id}")
    await page.get_by_label("Active (can log in)").uncheck()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status").filter(has_text="has been saved.")).to_be_visible()
    assert not (await User.get(id=viewer.id)).is_active
    await logout(page)
    await page.get_by_label("Email", exact=True).fill(viewer.email)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.locator("form.login")).to_be_visible()


async def test_admin_sets_another_users_password_with_the_policy_shown_live(page, world):
    # given
    keys = world.users["keys_a"]
    await login(page, world.users["admin_a"].email)
    await page.goto(f"/console#/users/{keys.id}")
    form = page.locator("form.user-password-form")
    await expect(form.get_by_role("heading", name="Change password")).to_be_visible()
    rule = lambda name: form.locator(f".password-rules li[data-rule={name}]")  # noqa: E731
    # when: a password that contains the name in the user's email address
    await form.get_by_label("New password", exact=True).fill("Keys_a-Meter-2026!")
    # then
    await expect(rule("email")).to_have_attribute("data-ok", "false")
    await expect(rule("length")).to_have_attribute("data-ok", "true")
    await form.get_by_role("button", name="Change password").click()
    await expect(form.get_by_role("alert")).to_have_text("The new password does not meet every requirement yet.")
    assert await passwords.verify_password(PASSWORD, (await User.get(id=keys.id)).password_hash)

    # when: a good one, confirmed
    await form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await form.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    await expect(form.locator(".password-rules li[data-ok=false]")).to_have_count(0)
    await form.get_by_role("button", name="Change password").click()
    # then
    await expect(form.get_by_role("status")).to_have_text(
        "The password of Keys A has been set. They must change it at the next login."
    )
    await expect(form.get_by_label("New password", exact=True)).to_have_value("")
    saved = await User.get(id=keys.id)
    assert saved.must_change_password
    assert await passwords.verify_password(NEW_PASSWORD, saved.password_hash)
    # the user logs in with it and is asked for an own password first
    await logout(page)
    await login(page, keys.email, NEW_PASSWORD)
    await expect(page).to_have_url(re.compile(r"#/change-password$"))


async def test_own_row_opens_the_profile_and_a_key_manager_has_no_user_screens(page, world):
    admin = world.users["admin_a"]
    await login(page, admin.email)
    await page.goto(f"/console#/users/{admin.id}")
    await expect(page).to_have_url(re.compile(r"#/profile$"))
    await logout(page)
    await login(page, world.users["keys_a"].email)
    await page.goto(f"/console#/users/{world.users['viewer_a'].id}")
    await expect(page.get_by_role("heading", name="Not available")).to_be_visible()


async def test_edit_user_screen_in_all_four_languages(page, world):
    admin = world.users["admin_a"]
    keys = world.users["keys_a"]
    for language in LANGUAGES:
        await User.filter(id=admin.id).update(language=language)
        await login(page, admin.email)
        await page.goto(f"/console#/users/{keys.id}")
        await expect(page.locator("form.user-form input[name=name]")).to_have_value("Keys A")
        await page.locator("form.user-password-form input[name=newPassword]").press_sequentially("Meter-K")
        await shot(page, "users-01-edit", language)
        await logout(page)
