"""The console in a real browser: Playwright drives Debian's chromium against `kms serve` on a free
loopback port, on the test database (SQLite or PostgreSQL, as KMS_TEST_DB says).

Needs the Debian package `chromium` (`make test` installs it through .ci/system-deps); without it these tests fail, they do not
skip. Screenshots of each main screen in all four languages go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path

from browser import DEVICES_TITLE, LANGUAGES, NEW_PASSWORD, SCREENSHOTS, login, logout, open_filter, shot, tick
from conftest import PASSWORD
from playwright.async_api import expect
from test_devices import APP_KEY, IMPORT, lora, oms

from models.devices import Device
from models.users import User


async def import_catalog(as_user, world) -> None:
    """customer_a owns A-LORA (AppKey APP_KEY), A-OMS and A-NEW, all UNCLAIMED."""
    platform = await as_user("platform_admin")
    rows = [lora("A-LORA", "70B3D5E75E000001"), oms("A-OMS", "20096221"), lora("A-NEW", "70B3D5E75E000002")]
    await platform.ok(IMPORT, {"org": str(world.orgs["customer_a"].id), "rows": rows})


async def test_first_login_asks_for_a_new_password_and_shows_the_policy_live(page, world):
    # given
    user = await world.user("newbie", "customer_a", ["KEY_MANAGER"], must_change=True)
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/console#/login$"))
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await expect(page.get_by_label("One-time code")).to_be_hidden()  # only asked for when the account has one
    # when
    await page.get_by_label("Email", exact=True).fill(user.email)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    # then
    await expect(page).to_have_url(re.compile(r"#/change-password$"))
    await expect(page.get_by_role("heading", name="Change password")).to_be_visible()
    await expect(page.get_by_text("This is your first login")).to_be_visible()
    await expect(page.locator("nav.sidebar")).to_have_count(0)  # nothing else until the password is changed

    rule = lambda name: page.locator(f".password-rules li[data-rule={name}]")  # noqa: E731
    new_password = page.get_by_label("New password", exact=True)
    await new_password.press_sequentially("meter")
    await expect(rule("lower")).to_have_attribute("data-ok", "true")
    for name in ("length", "upper", "digit", "special", "match"):
        await expect(rule(name)).to_have_attribute("data-ok", "false")
    await new_password.press_sequentially("-K1")  # "meter-K1": all but the length
    for name in ("lower", "upper", "digit", "special"):
        await expect(rule(name)).to_have_attribute("data-ok", "true")
    await expect(rule("length")).to_have_attribute("data-ok", "false")
    await new_password.fill(NEW_PASSWORD)
    await page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    await expect(page.locator(".password-rules li[data-ok=false]")).to_have_count(0)
    await page.get_by_label("Current password").fill(PASSWORD)
    await page.get_by_role("button", name="Change password").click()

    await expect(page.get_by_text("Your password has been changed.")).to_be_visible()
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
    assert not (await User.get(id=user.id)).must_change_password
    # the new password works, the old one is refused (translated message)
    await logout(page)
    await page.get_by_label("Email", exact=True).fill(user.email)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("The email address or password is wrong.")
    await login(page, user.email, NEW_PASSWORD)
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()


async def test_admin_sees_total_users_filters_and_adds_a_user(page, world):
    await login(page, world.users["admin_a"].email)
    menu = page.get_by_role("navigation", name="Main menu")
    await expect(menu.get_by_role("link", name="GraphiQL (API explorer)")).to_have_attribute("href", "#/graphiql")
    await menu.get_by_role("link", name="Users").click()
    total = page.locator("[data-total=users]")
    # admin_a sees Customer A and its sub-organisation: admin_a, keys_a, viewer_a, admin_a_sub
    await expect(total).to_have_text("Total users: 4")
    await expect(page.locator("tr[data-user]")).to_have_count(4)
    await expect(page.get_by_role("button", name="Show more users")).to_be_hidden()

    await page.get_by_label("Name", exact=True).fill("keys")
    await page.get_by_label("Name", exact=True).press("Enter")
    await expect(total).to_have_text("Total users: 1")
    await expect(page.locator("tr[data-user]")).to_have_text(["Keys Akeys_a@example.comCustomer AKey manager"])
    await page.get_by_label("Name", exact=True).fill("")
    await page.get_by_label("Roles", exact=True).select_option("OTC_ADMIN")
    await expect(total).to_have_text("Total users: 2")

    await page.get_by_role("link", name="+ Add user").click()
    await expect(page.get_by_role("heading", name="Add user")).to_be_visible()
    await expect(page.get_by_label("Platform admin")).to_have_count(0)  # nobody grants a role above their own
    await page.get_by_label("Name", exact=True).fill("Nora Newcomer")
    await page.get_by_label("Email", exact=True).fill("nora@example.com")
    await page.get_by_label("Organisation", exact=True).select_option(label="Customer A Sub")
    await page.get_by_label("Viewer").check()
    await page.get_by_label("User language").select_option("SV")
    await page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Nora Newcomer has been added.")).to_be_visible()
    await expect(total).to_have_text("Total users: 5")
    nora = await User.get(email="nora@example.com").prefetch_related("organisation")
    assert nora.role_list == ["VIEWER"] and nora.language == "SV" and nora.must_change_password
    assert nora.organisation.name == "Customer A Sub"


async def test_key_manager_claims_and_downloads_keys_and_refused_devices_are_listed(page, world, as_user):
    # given
    await import_catalog(as_user, world)
    await login(page, world.users["keys_a"].email)
    await expect(page.locator("[data-total=devices]")).to_have_text("Total devices: 3")
    await expect(page.locator("tr[data-serial]")).to_have_count(3)
    await expect(page.get_by_label("Claim status", exact=True)).to_contain_text("Unclaimed (3)")
    # when: claim one
    await page.get_by_label("Select A-LORA").check()
    await page.get_by_role("button", name="Claim devices").click()
    # then
    await expect(page.get_by_role("status").filter(has_text="1 device claimed.")).to_be_visible()
    await expect(page.locator("tr[data-serial=A-LORA] [data-status]")).to_have_attribute("data-status", "CLAIMED")
    assert (await Device.get(serial_number="A-LORA")).claim_status == "CLAIMED"

    # when: download the keys of the claimed device and of an unclaimed one, as CSV
    await page.get_by_label("Select A-NEW").check()
    await expect(page.locator(".selected-count")).to_have_text("Selected: 2")
    await page.get_by_label("Key file format").select_option("csv")
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download keys").click()
    download = await download_info.value
    # then: the file holds the imported key, and the unclaimed device is explained, not skipped silently
    content = Path(await download.path()).read_text()
    assert download.suggested_filename.endswith(".csv")
    assert "A-LORA" in content and APP_KEY in content.lower()
    assert "A-NEW" not in content
    refused = page.locator(".refused li[data-serial=A-NEW]")
    await expect(refused).to_have_attribute("data-reason", "DEVICE_UNCLAIMED")
    await expect(refused).to_contain_text("Claim the device first.")
    await shot(page, "devices-after-download", "en")

    # when: only unclaimed devices are selected, nothing is released and the reason is shown
    await page.get_by_role("button", name="Clear selection").click()
    await page.get_by_label("Select A-OMS").check()
    await page.get_by_role("button", name="Download keys").click()
    await expect(page.get_by_role("alert")).to_have_text("No key can be downloaded: every selected device was refused.")
    await expect(page.locator(".refused li[data-serial=A-OMS]")).to_have_attribute("data-reason", "DEVICE_UNCLAIMED")

    # when: a device claimed already is claimed again, the reason says so
    await page.get_by_role("button", name="Clear selection").click()
    await page.get_by_label("Select A-LORA").check()
    await page.get_by_role("button", name="Claim devices").click()
    again = page.locator(".refused li[data-serial=A-LORA]")
    await expect(again).to_have_attribute("data-reason", "CONFLICT")
    await expect(again).to_have_text("A-LORA: Claimed already.")

    # when: "Download all keys" with nothing selected: every claimed device the filters match
    await page.get_by_role("button", name="Clear selection").click()
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download all keys").click()
    content = Path(await (await download_info.value).path()).read_text()
    # then: the claimed device's key, and the unclaimed ones explained
    assert "A-LORA" in content and APP_KEY in content.lower() and "A-NEW" not in content
    for serial in ("A-NEW", "A-OMS"):
        await expect(page.locator(f".refused li[data-serial={serial}]")).to_have_attribute(
            "data-reason", "DEVICE_UNCLAIMED"
        )


async def test_a_long_list_of_refused_devices_shows_the_first_hundred_and_counts_the_rest(page, world, as_user):
    platform = await as_user("platform_admin")
    rows = [lora(f"U-{i:03}", f"70B3D5E75E{i:06}") for i in range(103)]
    await platform.ok(IMPORT, {"org": str(world.orgs["customer_a"].id), "rows": rows})
    await Device.filter(serial_number="U-000").update(claim_status="CLAIMED")
    await login(page, world.users["keys_a"].email)
    async with page.expect_download():
        await page.get_by_role("button", name="Download all keys").click()
    await expect(page.locator(".refused > p").first).to_have_text("These 102 devices were not included:")
    await expect(page.locator(".refused li")).to_have_count(100)
    await expect(page.locator(".refused-more")).to_have_text("… and 2 more.")


async def test_claim_all_claims_every_unclaimed_device_the_filters_match(page, world, as_user):
    # given: 520 unclaimed devices (more than one page of ids), one of another type, one claimed already
    platform = await as_user("platform_admin")
    rows = [lora(f"M-{i:03}", f"70B3D5E75E{i:06}") for i in range(520)] + [oms("W-1", "20096201")]
    await platform.ok(IMPORT, {"org": str(world.orgs["customer_a"].id), "rows": rows})
    await Device.filter(serial_number="M-000").update(claim_status="CLAIMED")
    await login(page, world.users["keys_a"].email)
    # when: the catalog is filtered to the LoRaWAN type, and Claim all is clicked
    await tick(page, "Device type", "TOPAS Lora W8")
    await expect(page.locator("[data-total=devices]")).to_have_text("Total devices: 520")
    await page.get_by_role("button", name="Claim all").click()
    # then: the 519 unclaimed of that type are claimed, the other type is not
    await expect(page.get_by_role("status").filter(has_text="519 devices claimed.")).to_be_visible()
    assert await Device.filter(serial_number__startswith="M-", claim_status="CLAIMED").count() == 520
    assert (await Device.get(serial_number="W-1")).claim_status == "UNCLAIMED"
    # and a second click finds nothing left to claim
    await page.get_by_role("button", name="Claim all").click()
    await expect(page.get_by_role("status")).to_have_text("No unclaimed device matches the filters.")


async def test_viewer_sees_the_catalog_without_key_actions_or_admin_menu(page, world, as_user):
    await import_catalog(as_user, world)
    await login(page, world.users["viewer_a"].email)
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
    await expect(page.locator("tr[data-serial]")).to_have_count(3)
    for name in ("Claim devices", "Download keys"):
        await expect(page.get_by_role("button", name=name)).to_have_count(0)
    await expect(page.locator("table input[type=checkbox]")).to_have_count(0)  # no selection (filters have boxes)
    menu = page.get_by_role("navigation", name="Main menu")
    await expect(menu.get_by_role("link")).to_have_text(["Devices", "Batch references"])  # reading, no actions
    # typing the address of an admin screen does not show it either
    await page.goto("/console#/users")
    await expect(page.get_by_role("heading", name="Not available")).to_be_visible()

    # paging with the keyset cursor, two devices a page, and the serial number search
    await page.goto("/console#/devices?first=2")
    await expect(page.locator("tr[data-serial]")).to_have_count(2)
    await page.get_by_role("button", name="Next page").click()
    await expect(page.locator("tr[data-serial]")).to_have_count(1)
    await expect(page.locator(".page-number")).to_have_text("Page 2")
    await expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    await page.get_by_role("button", name="Previous page").click()
    await expect(page.locator("tr[data-serial]")).to_have_count(2)
    await open_filter(page, "Serial number")
    await page.get_by_label("Serial number", exact=True).fill("A-OMS")
    await page.get_by_label("Serial number", exact=True).press("Enter")
    await expect(page.locator("tr[data-serial]")).to_have_count(1)
    await expect(page.locator("[data-total=devices]")).to_have_text("Total devices: 1")


async def test_switching_the_profile_language_to_german_shows_german_labels(page, world):
    user = world.users["keys_a"]
    await login(page, user.email)
    await page.get_by_role("link", name="Profile").click()
    await expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    await page.get_by_label("User language").select_option("DE")
    await page.get_by_label("CSV column delimiter").select_option(",")
    await page.get_by_role("button", name="Save").click()

    await expect(page.get_by_text("Ihr Profil wurde gespeichert.")).to_be_visible()
    await expect(page.get_by_role("heading", name="Profil", exact=True)).to_be_visible()
    await expect(page.get_by_label("Benutzersprache")).to_have_value("DE")
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    menu = page.get_by_role("navigation", name="Hauptmenü")
    await menu.get_by_role("link", name="Geräte").click()
    await expect(page.get_by_role("heading", name="Geräte", exact=True)).to_be_visible()
    await expect(page.locator("[data-total=devices]")).to_have_text("Geräte insgesamt: 0")
    await expect(page.get_by_role("button", name="Geräte beanspruchen")).to_be_visible()
    saved = await User.get(id=user.id)
    assert saved.language == "DE" and saved.csv_delimiter == ","
    # the next login starts in German too
    await page.get_by_role("button", name="Abmelden").click()
    await expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()


async def test_every_string_is_translated_and_screens_render_in_all_four_languages(page, world, as_user):
    await import_catalog(as_user, world)
    await Device.filter(serial_number="A-LORA").update(claim_status="CLAIMED")
    newbie = await world.user("newbie", "customer_a", ["KEY_MANAGER"], must_change=True)
    admin = world.users["admin_a"]
    await page.goto("/console#/login")
    missing = await page.evaluate("async () => (await import('/console/static/core/i18n.js')).missingTranslations()")
    assert missing == []

    for language in LANGUAGES:
        await User.filter(id__in=[newbie.id, admin.id]).update(language=language)
        # login screen, in the language picked on it
        await page.goto("/console#/login")
        await page.locator("select[name=language]").select_option(language)
        await expect(page.locator("html")).to_have_attribute("lang", language.lower())
        await shot(page, "01-login", language)
        # first-login password change
        await login(page, newbie.email)
        await expect(page.locator("form.password-form")).to_be_visible()
        await page.locator("input[name=newPassword]").press_sequentially("Meter-K")
        await shot(page, "02-first-login-password", language)
        await logout(page)
        # the admin's screens
        await login(page, admin.email)
        await expect(page.get_by_role("heading", name=DEVICES_TITLE[language], exact=True)).to_be_visible()
        await expect(page.locator("tr[data-serial]")).to_have_count(3)
        await shot(page, "03-devices", language)
        for route, name, ready in (
            ("/users", "04-users", "tr[data-user]"),
            ("/users/new", "05-add-user", "form .password-rules"),
            ("/profile", "06-profile", "form.profile-form"),
        ):
            await page.goto(f"/console#{route}")
            await expect(page.locator(ready).first).to_be_visible()
            await shot(page, name, language)
        await logout(page)
    assert len(list(SCREENSHOTS.glob("0*-sv.png"))) == 6
