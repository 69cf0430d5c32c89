"""Admin > Organisations in a real browser (manual 9.6-9.8): the list with TOTAL ORGANISATIONS, adding and
editing an organisation, "Copy ID", and partners added by ID and removed after a confirmation. Every step
is checked in the database."""

from __future__ import annotations

from browser import LANGUAGES, login, logout, shot
from playwright.async_api import expect

from models.organisations import Organisation, Partnership
from models.users import User


async def test_platform_admin_adds_and_edits_an_organisation_copies_its_id_and_adds_a_partner(page, world):
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await login(page, world.users["platform_admin"].email)
    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Organisations").click()
    total = page.locator("[data-total=organisations]")
    # a platform admin sees every organisation, the partner's own tree included
    await expect(total).to_have_text("Total organisations: 5")
    await expect(page.locator("tr[data-organisation]")).to_have_count(5)
    await expect(page.locator("tr[data-organisation='IntegraDemo'] [data-value]")).to_have_attribute(
        "data-value", "true"
    )
    await expect(page.locator("tr[data-organisation='Customer B'] [data-value]")).to_have_attribute(
        "data-value", "false"
    )

    # 9.6 add an organisation below Customer B
    await page.get_by_role("link", name="+ Add organisation").click()
    await expect(page.get_by_role("heading", name="Add organisation")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Northwind Utilities")
    await page.get_by_label("Your reference").fill("K-1001")
    await page.get_by_label("Parent organisation").select_option(label="Customer B")
    await page.get_by_label("Can create other organisations").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("The organisation Northwind Utilities has been added.")).to_be_visible()
    await expect(total).to_have_text("Total organisations: 6")
    row = page.locator("tr[data-organisation='Northwind Utilities']")
    await expect(row).to_contain_text("K-1001")
    created = await Organisation.get(name="Northwind Utilities")
    customer_b = world.orgs["customer_b"]
    assert created.your_reference == "K-1001" and created.can_create_organisations
    assert created.parent_id == customer_b.id and created.path == f"{customer_b.path}{created.id}/"

    # 9.7 edit it
    await row.get_by_role("link", name="Edit organisation Northwind Utilities").click()
    await expect(page.get_by_role("heading", name="Edit organisation")).to_be_visible()
    await expect(page.get_by_text("Parent organisation: Customer B")).to_be_visible()
    await expect(page.get_by_label("ID", exact=True)).to_have_value(str(created.id))
    await page.get_by_label("Name", exact=True).fill("Northwind Water")
    await page.get_by_label("Your reference").fill("K-1002")
    await page.get_by_label("Can create other organisations").uncheck()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("The organisation Northwind Water has been saved.")).to_be_visible()
    await expect(page.locator("tr[data-organisation='Northwind Water']")).to_contain_text("K-1002")
    edited = await Organisation.get(id=created.id)
    assert (edited.name, edited.your_reference, edited.can_create_organisations) == ("Northwind Water", "K-1002", False)

    # Copy ID: the clipboard holds the organisation's ID and the page says so
    await page.get_by_role("link", name="Edit organisation Northwind Water").click()
    await page.get_by_role("button", name="Copy ID").click()
    await expect(page.get_by_role("status").filter(has_text="copied")).to_have_text(
        "The ID has been copied to the clipboard."
    )
    assert await page.evaluate("navigator.clipboard.readText()") == str(created.id)

    # 9.8 add a partner by the ID its users hand over
    partner = world.orgs["partner"]
    platform = world.orgs["platform"]
    await page.goto("/console#/organisations")
    await page.get_by_role("link", name="Add partner", exact=True).click()
    await expect(page.get_by_role("heading", name="Partners of IntegraDemo")).to_be_visible()
    await expect(page.get_by_text("Your organisation has no partners yet.")).to_be_visible()
    partner_id = page.get_by_label("ID of the partner organisation")
    await expect(partner_id).to_be_focused()
    await partner_id.fill(str(partner.id))
    await page.locator("form[data-form=add-partner]").get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Partner P is now a partner.")).to_be_visible()
    await expect(page.locator("tr[data-partner='Partner P']")).to_contain_text(str(partner.id))
    assert await Partnership.filter(organisation_id=platform.id, partner_id=partner.id).count() == 1
    # refusals are explained in words
    await partner_id.fill(str(partner.id))
    await page.locator("form[data-form=add-partner]").get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_have_text("This organisation is already a partner.")
    await partner_id.fill(str(world.orgs["customer_a"].id))
    await page.locator("form[data-form=add-partner]").get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text("your own or one below it")
    await partner_id.fill("00000000-0000-4000-8000-000000000000")
    await page.locator("form[data-form=add-partner]").get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text("No organisation has this ID.")
    assert await Partnership.filter(organisation_id=platform.id).count() == 1

    # remove, after a confirmation (cancel first: nothing happens)
    await page.get_by_role("button", name="Remove partner Partner P").click()
    await page.get_by_role("button", name="Cancel").click()
    await expect(page.get_by_role("button", name="Remove partner Partner P")).to_be_focused()
    assert await Partnership.filter(organisation_id=platform.id, partner_id=partner.id).count() == 1
    await page.get_by_role("button", name="Remove partner Partner P").click()
    await expect(page.get_by_text("Remove Partner P as a partner?")).to_be_visible()
    await page.get_by_role("button", name="Yes, remove").click()
    await expect(page.get_by_text("Partner P is no longer a partner.")).to_be_visible()
    await expect(page.locator("tr[data-partner]")).to_have_count(0)
    assert await Partnership.filter(organisation_id=platform.id).count() == 0


async def test_copy_id_falls_back_to_selecting_the_id_without_clipboard_access(page, world):
    await login(page, world.users["admin_a"].email)
    sub = world.orgs["customer_a_sub"]
    # a browser without the asynchronous clipboard (e.g. a page not served over HTTPS)
    await page.evaluate("Object.defineProperty(navigator, 'clipboard', { value: undefined, configurable: true })")
    await page.goto(f"/console#/organisations/{sub.id}")
    await page.get_by_role("button", name="Copy ID").click()
    await expect(page.get_by_role("status").filter(has_text="selected")).to_contain_text("press Ctrl+C")
    selected = await page.evaluate(
        "(() => { const el = document.activeElement; return el.value.slice(el.selectionStart, el.selectionEnd); })()"
    )
    assert selected == str(sub.id)


async def test_admin_whose_organisation_may_not_create_organisations_only_looks(page, world):
    await login(page, world.users["admin_b"].email)
    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Organisations").click()
    await expect(page.locator("[data-total=organisations]")).to_have_text("Total organisations: 1")
    await expect(page.locator("tr[data-organisation='Customer B']")).to_be_visible()
    await expect(page.get_by_role("link", name="+ Add organisation")).to_have_count(0)
    # typing the address does not help either
    await page.goto("/console#/organisations/new")
    await expect(page.get_by_text("Your organisation may not create other organisations.")).to_be_visible()
    await expect(page.locator("form[data-form=add-organisation]")).to_have_count(0)
    # its own organisation it sees, with the ID to hand to a partner, but has no form to change it
    await page.get_by_role("link", name="Organisations").click()
    await expect(page.locator("[data-action=edit-organisation]")).to_have_count(0)
    await expect(page.locator("[data-action=add-partner]")).to_have_count(0)
    await page.get_by_role("link", name="Customer B", exact=True).click()
    await expect(page.get_by_role("heading", name="Organisation", exact=True)).to_be_visible()
    await expect(page.locator("[data-view=organisation]")).to_contain_text("Customer B")
    await expect(page.locator("[data-notice=not-allowed]")).to_contain_text("may not create or change organisations")
    await expect(page.locator("form")).to_have_count(0)
    await expect(page.locator("input[name=organisationId]")).to_have_value(str(world.orgs["customer_b"].id))
    # the partners page lists the partners and the own ID, without adding or removing
    await Partnership.create(organisation=world.orgs["customer_b"], partner=world.orgs["partner"])
    await page.get_by_role("link", name="Manage the partners of your organisation").click()
    await expect(page.locator("tr[data-partner='Partner P']")).to_be_visible()
    await expect(page.locator("[data-action=remove-partner]")).to_have_count(0)
    await expect(page.locator("form[data-form=add-partner]")).to_have_count(0)
    await expect(page.locator("[data-notice=not-allowed]")).to_be_visible()
    await expect(page.locator("input[name=organisationId]")).to_have_value(str(world.orgs["customer_b"].id))


async def test_admin_with_the_right_adds_an_organisation_below_its_own(page, world):
    await login(page, world.users["admin_a"].email)
    await page.goto("/console#/organisations")
    await expect(page.locator("[data-total=organisations]")).to_have_text("Total organisations: 2")
    await page.get_by_role("link", name="+ Add organisation").click()
    # the list's own "Name" filter stays on screen until the form replaces it: fill the form's field
    form = page.locator("form[data-form=add-organisation]")
    await form.get_by_label("Name", exact=True).fill("A Field Office")
    await form.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("The organisation A Field Office has been added.")).to_be_visible()
    created = await Organisation.get(name="A Field Office")
    assert created.parent_id == world.orgs["customer_a"].id and not created.can_create_organisations
    # its own organisation's name is the parent's to change: shown, not editable; its reference is editable
    await page.goto(f"/console#/organisations/{world.orgs['customer_a'].id}")
    form = page.locator("form[data-form=edit-organisation]")
    await expect(form.get_by_label("Name", exact=True)).to_have_js_property("readOnly", True)
    await expect(form.get_by_text("changed by the organisation above it")).to_be_visible()
    await form.get_by_label("Your reference").fill("A-7")
    await form.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("The organisation Customer A has been saved.")).to_be_visible()
    assert (await Organisation.get(id=world.orgs["customer_a"].id)).your_reference == "A-7"


async def test_key_manager_and_viewer_have_no_organisations_menu(page, world):
    for key in ("keys_a", "viewer_a"):
        await login(page, world.users[key].email)
        await expect(page.get_by_role("navigation", name="Main menu")).to_be_visible()
        await expect(page.locator("[data-menu=organisations]")).to_have_count(0)
        await page.goto("/console#/organisations")
        await expect(page.get_by_role("heading", name="Not available")).to_be_visible()
        await logout(page)


async def test_organisation_screens_in_all_four_languages(page, world):
    admin = world.users["platform_admin"]
    await Partnership.create(organisation=world.orgs["platform"], partner=world.orgs["partner"])
    await Organisation.filter(id=world.orgs["customer_a"].id).update(your_reference="C-0042")
    for language in LANGUAGES:
        await User.filter(id=admin.id).update(language=language)
        await login(page, admin.email)
        await page.goto("/console#/organisations")
        await expect(page.locator("tr[data-organisation]")).to_have_count(5)
        await shot(page, "organisations-01-list", language)
        await page.goto("/console#/organisations/new")
        await expect(page.locator("form[data-form=add-organisation]")).to_be_visible()
        await shot(page, "organisations-02-add", language)
        await page.goto(f"/console#/organisations/{world.orgs['customer_a'].id}")
        await expect(page.locator("form[data-form=edit-organisation]")).to_be_visible()
        await shot(page, "organisations-03-edit", language)
        await page.goto("/console#/organisations/partners")
        await expect(page.locator("tr[data-partner]")).to_have_count(1)
        await page.locator("[data-action=remove-partner]").click()
        await expect(page.locator("[data-action=confirm-remove]")).to_be_visible()
        await shot(page, "organisations-04-partners", language)
        await logout(page)
