"""Device catalog (manual 10.1-10.4) and the device page in a real browser: filters with counts, row menus,
labels and batches from a selection, key slots, identifiers panels and "Verify key". Results are checked
in the database, not only on the screen."""

from __future__ import annotations

import json
import re

from browser import LANGUAGES, login, open_filter, shot, tick
from playwright.async_api import expect
from test_devices import APP_KEY, IMPORT, lora, oms

from crypto.primitives import aes_cmac
from models.devices import BatchReference, Device, DeviceLabel
from models.keys import DeviceKey
from models.users import User

SET_LABELS = "mutation($ids: [ID!]!, $l: [String!]!) { setDeviceLabels(deviceIds: $ids, labels: $l) { id } }"
BATCH = """mutation($r: String!, $ids: [ID!]!, $org: ID!) {
  createBatchFromSelection(reference: $r, deviceIds: $ids, organisationId: $org) { batchReference { id } } }"""
OTHER_KEY = "000102030405060708090a0b0c0d0e0f"


async def catalog(as_user, world) -> dict[str, str]:
    """customer_a: two LoRaWAN and three OMS devices, all UNCLAIMED; labels "north" on L1 and O1, "south" on
    O2; O1 and O2 in batch B-1. Returns serial -> id."""
    platform = await as_user("platform_admin")
    rows = [
        lora("L1", "70B3D5E75E000001"),
        lora("L2", "70B3D5E75E000002"),
        oms("O1", "20096221"),
        oms("O2", "20096222"),
        oms("O3", "20096223"),
    ]
    found = (await platform.ok(IMPORT, {"org": str(world.orgs["customer_a"].id), "rows": rows}))["importDevices"]
    ids = {d["serialNumber"]: d["id"] for d in found}
    keys = await as_user("keys_a")
    await keys.ok(SET_LABELS, {"ids": [ids["L1"], ids["O1"]], "l": ["north"]})
    await keys.ok(SET_LABELS, {"ids": [ids["O2"]], "l": ["south"]})
    await keys.ok(BATCH, {"r": "B-1", "ids": [ids["O1"], ids["O2"]], "org": str(world.orgs["customer_a"].id)})
    return ids


def join_request(app_key: str, dev_eui: str, join_eui: str = "0000000000000000", nonce: bytes = b"\x01\x02") -> str:
    """A LoRaWAN 1.0 join-request PHYPayload (hex) with its MIC computed under ``app_key``."""
    body = b"\x00" + bytes.fromhex(join_eui)[::-1] + bytes.fromhex(dev_eui)[::-1] + nonce
    return (body + aes_cmac(bytes.fromhex(app_key), body)[:4]).hex()


def rows(page):
    return page.locator("tr[data-serial]")


async def test_filters_with_counts_narrow_the_list_and_totals_match_the_database(page, world, as_user):
    # given
    await catalog(as_user, world)
    await login(page, world.users["keys_a"].email)
    total = page.locator("[data-total=devices]")
    await expect(total).to_have_text("Total devices: 5")
    type_filter = page.get_by_label("Device type", exact=True)
    await expect(type_filter).to_contain_text("TOPAS Lora W8 (2)")
    await expect(type_filter).to_contain_text("TOPAS wM-Bus (3)")
    await expect(page.get_by_label("Labels", exact=True)).to_contain_text("north (2)")
    await expect(page.get_by_label("Batch reference", exact=True)).to_contain_text("B-1 (2)")
    await expect(page.locator("details[data-facet] > summary")).to_have_text(
        ["Serial number: All", "Device type: All", "Claim status: All", "Labels: All", "Batch reference: All"]
    )
    # when: device type, ticked in its filter's proposals
    await tick(page, "Device type", "TOPAS wM-Bus")
    await expect(page.locator("details[data-facet=deviceType] summary")).to_have_text("Device type: TOPAS wM-Bus")
    # then: the list, its total and the other dropdowns' counts follow, and the address keeps the filter
    wmbus = await Device.filter(device_type="topas-sonic-wmbus", owner_id=world.orgs["customer_a"].id).count()
    await expect(total).to_have_text(f"Total devices: {wmbus}")
    await expect(rows(page)).to_have_count(3)
    await expect(page).to_have_url(re.compile(r"#/devices\?.*deviceType=topas-sonic-wmbus"))
    await expect(page.get_by_label("Labels", exact=True)).to_contain_text("north (1)")
    # when: a label on top
    await tick(page, "Labels", "north")
    labelled = await DeviceLabel.filter(label="north", device__device_type="topas-sonic-wmbus").count()
    await expect(total).to_have_text(f"Total devices: {labelled}")
    await expect(rows(page)).to_have_text([re.compile("^O1")])
    # when: a batch reference instead of the label
    await tick(page, "Labels", "north", on=False)
    await tick(page, "Batch reference", "B-1")
    batch = await BatchReference.get(reference="B-1")
    in_batch = await Device.filter(batch_id=batch.id).count()
    await expect(total).to_have_text(f"Total devices: {in_batch}")
    await expect(rows(page)).to_have_count(in_batch)
    await expect(rows(page).locator("td.batch")).to_have_text(["B-1", "B-1"])
    await shot(page, "devices-catalog-filtered", "en")
    # a reload keeps the filters from the address
    await page.reload()
    await expect(total).to_have_text(f"Total devices: {in_batch}")
    await expect(page.locator("details[data-facet=batch] summary")).to_have_text("Batch reference: B-1")
    await expect((await open_filter(page, "Batch reference")).get_by_label(re.compile("^B-1 "))).to_be_checked()
    # when: reset
    await page.get_by_role("button", name="Reset filters").click()
    await expect(total).to_have_text("Total devices: 5")
    await expect(page).not_to_have_url(re.compile("batch="))
    # when: an exact list of serial numbers is pasted (in the serial number filter)
    await open_filter(page, "Serial number")
    await page.get_by_text("Paste a list of exact serial numbers").click()
    await page.get_by_label("Exact list (one per line)").fill("L2\nO3, O1\nNOPE")
    await page.get_by_role("button", name="Search").click()
    await expect(total).to_have_text("Total devices: 3")
    await expect(rows(page)).to_have_count(3)
    await expect(page).to_have_url(re.compile(r"serials=L2%2CO3%2CO1%2CNOPE"))
    # the prefix search, and its proposals to tick
    await page.get_by_role("button", name="Reset filters").click()
    await open_filter(page, "Serial number")
    await page.get_by_label("Serial number", exact=True).fill("O")
    serial = page.locator("details[data-facet=serial]")
    await expect(serial.locator(".facet-option")).to_have_text(["O1", "O2", "O3"])  # proposals while typing
    await page.get_by_label("Serial number", exact=True).press("Enter")
    await expect(total).to_have_text("Total devices: 3")
    await expect(serial.locator(":scope > summary")).to_have_text("Serial number: starts with O")
    await open_filter(page, "Serial number")
    await serial.get_by_label("O2", exact=True).check()
    await expect(total).to_have_text("Total devices: 1")
    await expect(rows(page)).to_have_text([re.compile("^O2")])
    # several values of one filter show any of them
    await page.keyboard.press("Escape")  # Escape closes the open filter
    await expect(serial.locator(".facet-panel")).to_be_hidden()
    await page.get_by_role("button", name="Reset filters").click()
    await tick(page, "Labels", "north")
    await tick(page, "Labels", "south")
    await expect(total).to_have_text("Total devices: 3")
    await expect(page.locator("details[data-facet=label] summary")).to_have_text("Labels: 2 chosen")
    # a filter's search bar narrows its proposals
    await page.get_by_label("Search in Labels").fill("nor")
    await expect(page.locator("details[data-facet=label] .facet-option")).to_have_text(["north (2)"])


async def test_row_menu_claims_one_device_with_the_keyboard(page, world, as_user):
    ids = await catalog(as_user, world)
    await login(page, world.users["keys_a"].email)
    menu_button = page.get_by_role("button", name="Actions for O3")
    await menu_button.focus()
    await page.keyboard.press("Enter")
    menu = page.get_by_role("menu", name="Actions for O3")
    await expect(menu).to_be_visible()
    # an UNCLAIMED device's keys are not released (manual 10.4), so its menu does not offer them
    await expect(menu.get_by_role("menuitem")).to_have_text(["Show device", "Claim device", "Labels"])
    await expect(menu.get_by_role("menuitem", name="Show device")).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await expect(menu.get_by_role("menuitem", name="Claim device")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status").filter(has_text="1 device claimed.")).to_be_visible()
    await expect(page.locator("tr[data-serial=O3] [data-status]")).to_have_attribute("data-status", "CLAIMED")
    assert (await Device.get(id=ids["O3"])).claim_status == "CLAIMED"
    assert (await Device.get(id=ids["O2"])).claim_status == "UNCLAIMED"
    await page.get_by_role("button", name="Actions for O3").click()
    claimed_menu = page.get_by_role("menu", name="Actions for O3").get_by_role("menuitem")
    await expect(claimed_menu).to_have_text(["Show device", "Download keys", "Labels"])
    await page.keyboard.press("Escape")
    # Escape closes a menu and gives the focus back to its button
    await page.get_by_role("button", name="Actions for L1").click()
    await expect(page.get_by_role("menu", name="Actions for L1")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("menu", name="Actions for L1")).to_be_hidden()
    await expect(page.get_by_role("button", name="Actions for L1")).to_be_focused()
    # the row menu's Labels edits the labels of that one device
    await page.get_by_role("button", name="Actions for L2").click()
    await page.get_by_role("menu", name="Actions for L2").get_by_role("menuitem", name="Labels").click()
    await page.get_by_label("New labels").fill("roof")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Labels of 1 device saved.")).to_be_visible()
    assert await DeviceLabel.filter(device_id=ids["L2"]).values_list("label", flat=True) == ["roof"]


async def test_the_headers_three_dots_act_on_the_selection_or_on_all_devices(page, world, as_user):
    # manual 10.4.2 "Download all your keys": click on the three dots and choose "Download keys"
    ids = await catalog(as_user, world)
    await login(page, world.users["keys_a"].email)
    await expect(rows(page)).to_have_count(5)
    header_menu = page.get_by_role("button", name=re.compile("^Actions for the selected devices"))
    items = page.get_by_role("menu", name=re.compile("^Actions for the selected devices")).get_by_role("menuitem")

    async def choose(item):
        await header_menu.click()
        await expect(items).to_have_text(["Claim devices", "Download keys", "+ Create batch from current selection"])
        await items.filter(has_text=item).click()

    # with one device ticked, "Claim devices" claims that one
    await page.get_by_label("Select L1").check()
    await choose("Claim devices")
    await expect(page.get_by_role("status").filter(has_text="1 device claimed.")).to_be_visible()
    assert {str(i) for i in await Device.filter(claim_status="CLAIMED").values_list("id", flat=True)} == {ids["L1"]}
    # with nothing ticked, it claims every device the filters show
    await page.get_by_role("button", name="Clear selection").click()
    await tick(page, "Labels", "north")
    await expect(rows(page)).to_have_count(2)
    await choose("Claim devices")
    await expect(page.get_by_role("status").filter(has_text="1 device claimed.")).to_be_visible()
    claimed = {str(i) for i in await Device.filter(claim_status="CLAIMED").values_list("id", flat=True)}
    assert claimed == {ids["L1"], ids["O1"]}
    # and "Download keys" downloads the keys of all of them
    async with page.expect_download() as download_info:
        await choose("Download keys")
    content = (await (await download_info.value).path()).read_text()
    assert "L1" in content and "O1" in content and "O2" not in content
    # a batch needs a selection
    await choose("+ Create batch from current selection")
    await expect(page.get_by_role("status").filter(has_text="Tick the devices for the batch first.")).to_be_visible()
    await page.get_by_label("Select O1").check()
    await choose("+ Create batch from current selection")
    await expect(page.locator("input[name=reference]")).to_be_visible()


async def test_the_header_box_selects_and_unselects_every_device_on_the_page(page, world, as_user):
    await catalog(as_user, world)
    await login(page, world.users["keys_a"].email)
    every = page.get_by_label("Select all devices on this page")
    boxes = page.locator("input[data-device]")
    await expect(boxes).to_have_count(5)
    # when: ticked
    await every.check()
    # then: every row is ticked and counted
    await expect(page.get_by_text("Selected: 5")).to_be_visible()
    for n in range(5):
        await expect(boxes.nth(n)).to_be_checked()
    await expect(every).to_be_checked()
    # when: unticked, nothing stays selected
    await every.uncheck()
    await expect(page.get_by_text("Selected: 0")).to_be_visible()
    for n in range(5):
        await expect(boxes.nth(n)).not_to_be_checked()


async def test_set_labels_and_create_a_batch_from_the_selection(page, world, as_user):
    ids = await catalog(as_user, world)
    await login(page, world.users["keys_a"].email)
    # when: labels for two selected devices
    await page.get_by_label("Select L2").check()
    await page.get_by_label("Select O3").check()
    await page.get_by_role("button", name="Set labels").click()
    await page.get_by_label("New labels").fill("pilot, east")
    await page.get_by_role("button", name="Save").click()
    # then
    await expect(page.get_by_text("Labels of 2 devices saved.")).to_be_visible()
    await expect(page.locator("tr[data-serial=L2] td.labels")).to_have_text("east, pilot")
    for serial in ("L2", "O3"):
        labels = await DeviceLabel.filter(device_id=ids[serial]).order_by("label").values_list("label", flat=True)
        assert labels == ["east", "pilot"]
    assert await DeviceLabel.filter(device_id=ids["L1"]).values_list("label", flat=True) == ["north"]

    # when: a batch of the same selection for the sub-organisation, to be confirmed there
    await page.get_by_role("button", name="+ Create batch from current selection").click()
    form = page.locator("form.batch-form")
    await expect(form.get_by_role("heading")).to_have_text("Create a batch from 2 selected devices")
    organisation = form.get_by_label("Target organisation")
    await expect(organisation.locator("option")).to_have_text(["Customer A", "Customer A Sub", "Partner P"])
    await form.get_by_label("Batch reference").fill("SUB-2026-01")
    await form.get_by_label("Label (optional)").fill("delivery 1")
    await organisation.select_option(label="Customer A Sub")
    await form.get_by_label("Ownership request needs confirmation").check()
    await form.get_by_role("button", name="Create batch").click()
    # then
    await expect(
        page.get_by_role("status").filter(has_text="Batch SUB-2026-01 created with 2 devices.")
    ).to_be_visible()
    batch = await BatchReference.get(reference="SUB-2026-01")
    assert batch.state == "PENDING_CONFIRMATION" and batch.requires_confirmation and batch.label == "delivery 1"
    assert batch.organisation_id == world.orgs["customer_a_sub"].id and batch.device_count == 2  # type: ignore[attr-defined]
    assert sorted(await Device.filter(pending_batch_id=batch.id).values_list("serial_number", flat=True)) == [
        "L2",
        "O3",
    ]
    # the devices wait in it and keep the batch they are in until the sub-organisation takes ownership
    await expect(page.get_by_label("Batch reference", exact=True)).not_to_contain_text("SUB-2026-01")

    # when: the same reference again is refused with the API's reason, nothing changes
    await page.get_by_label("Select L1").check()
    await page.get_by_role("button", name="+ Create batch from current selection").click()
    await form.get_by_label("Batch reference").fill("SUB-2026-01")
    await form.get_by_label("Target organisation").select_option(label="Customer A Sub")
    await form.get_by_role("button", name="Create batch").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    assert await BatchReference.filter(reference="SUB-2026-01").count() == 1
    assert (await Device.get(id=ids["L1"])).batch_id is None  # type: ignore[attr-defined]


async def test_device_page_shows_key_slots_identifiers_and_verifies_a_frame(page, world, as_user):
    ids = await catalog(as_user, world)
    await login(page, world.users["keys_a"].email)
    # when: the serial number links to the device page
    await page.get_by_role("link", name="L1", exact=True).click()
    # then
    await expect(page).to_have_url(re.compile(f"#/devices/{ids['L1']}$"))
    await expect(page.get_by_role("heading", name="Device L1")).to_be_visible()
    await expect(page.locator("[data-fact=type]")).to_have_text("TOPAS Lora W8")
    await expect(page.locator("[data-fact=radio]")).to_have_text("LoRaWAN")
    await expect(page.locator("[data-fact=owner]")).to_have_text("Customer A")
    await expect(page.locator("[data-fact=labels]")).to_have_text("north")
    stored = await DeviceKey.get(device_id=ids["L1"], key_type="AppKey")
    await expect(page.locator("tr[data-slot=AppKey]")).to_contain_text("AES128")
    await expect(page.locator("[data-kcv=AppKey]")).to_have_text(stored.check_value.upper())
    await expect(page.locator("main")).not_to_contain_text(APP_KEY)
    await expect(page.locator("main")).not_to_contain_text(APP_KEY.upper())
    panel = page.locator("[data-panel=lorawan-identifiers]")
    await expect(panel.get_by_role("heading")).to_have_text("LoRaWAN identifiers")
    await expect(panel.locator("[data-identifier=devEui]")).to_have_attribute("data-value", "70B3D5E75E000001")
    await expect(panel.locator("[data-identifier=lorawanVersion]")).to_have_text("1.0.3")
    await expect(page.locator("[data-panel=oms-identifiers]")).to_have_count(0)

    # when: a join-request made with the device's AppKey
    frame = page.get_by_label("Captured frame (hex)")
    await frame.fill(join_request(APP_KEY, "70B3D5E75E000001"))
    await page.get_by_role("button", name="Verify key").click()
    result = page.locator(".verify-result")
    await expect(result).to_have_attribute("data-result", "match")
    await expect(result).to_contain_text("Match: the stored key (AppKey) fits this frame.")
    # when: the same join-request made with another key
    await frame.fill(join_request(OTHER_KEY, "70B3D5E75E000001"))
    await page.get_by_role("button", name="Verify key").click()
    await expect(result).to_have_attribute("data-result", "no-match")
    await expect(result).to_contain_text("No match")
    # when: not hex at all
    await frame.fill("not a frame")
    await page.get_by_role("button", name="Verify key").click()
    await expect(result).to_have_attribute("data-result", "error")
    await expect(result).to_have_attribute("data-code", "BAD_USER_INPUT")

    # the OMS device's page shows the OMS identifiers
    await page.goto(f"/console#/devices/{ids['O1']}")
    panel = page.locator("[data-panel=oms-identifiers]")
    await expect(panel.get_by_role("heading")).to_have_text("OMS identifiers")
    await expect(panel.locator("[data-identifier=mbusId]")).to_have_text("20096221")
    await expect(panel.locator("[data-identifier=manufacturer]")).to_have_text("DME")
    await expect(panel.locator("[data-identifier=version]")).to_have_text("1 (0x01)")
    await expect(panel.locator("[data-identifier=medium]")).to_have_text("Water")
    await expect(page.locator("[data-fact=batch]")).to_have_text("B-1")
    await expect(page.locator("[data-panel=lorawan-identifiers]")).to_have_count(0)
    stored = await DeviceKey.get(device_id=ids["O1"], key_type="OMS")
    await expect(page.locator("[data-kcv=OMS]")).to_have_text(stored.check_value.upper())
    # claiming from the device page
    await page.get_by_role("button", name="Claim device").click()
    await expect(page.locator("[data-fact=status] [data-status]")).to_have_attribute("data-status", "CLAIMED")
    assert (await Device.get(id=ids["O1"])).claim_status == "CLAIMED"


async def test_viewer_sees_no_key_claim_or_batch_actions(page, world, as_user):
    ids = await catalog(as_user, world)
    await login(page, world.users["viewer_a"].email)
    await expect(rows(page)).to_have_count(5)
    for name in ("Claim devices", "Download keys", "Set labels", "+ Create batch from current selection"):
        await expect(page.get_by_role("button", name=name)).to_have_count(0)
    await page.get_by_role("button", name="Actions for L1").click()
    await expect(page.get_by_role("menu", name="Actions for L1").get_by_role("menuitem")).to_have_text(["Show device"])
    await page.get_by_role("menuitem", name="Show device").click()
    await expect(page.get_by_role("heading", name="Device L1")).to_be_visible()
    await expect(page.locator("[data-panel=lorawan-identifiers]")).to_be_visible()
    await expect(page.locator("tr[data-slot=AppKey]")).to_be_visible()
    await expect(page.get_by_label("Captured frame (hex)")).to_have_count(0)
    await expect(page.get_by_role("button")).not_to_contain_text(["Claim device", "Verify key"])
    assert (await Device.get(id=ids["L1"])).claim_status == "UNCLAIMED"


async def test_catalog_screens_in_all_four_languages(page, world, as_user):
    ids = await catalog(as_user, world)
    user = world.users["keys_a"]
    for language in LANGUAGES:
        await User.filter(id=user.id).update(language=language)
        await login(page, user.email)
        await page.goto("/console#/devices?deviceType=topas-sonic-wmbus")
        await expect(rows(page)).to_have_count(3)
        await shot(page, "devices-01-catalog-filters", language)
        await page.locator("tr[data-serial=O2] .row-menu-button").click()
        await expect(page.locator("tr[data-serial=O2] [role=menu]")).to_be_visible()
        await shot(page, "devices-02-row-menu", language)
        await page.keyboard.press("Escape")
        await page.locator("input[data-device=O1]").check()
        await page.locator("input[data-device=O3]").check()
        await page.locator("[data-action=batch]").click()
        await expect(page.locator("form.batch-form select option").first).to_be_attached()
        await shot(page, "devices-03-create-batch", language)
        await page.goto(f"/console#/devices/{ids['L1']}")
        await page.locator("textarea[name=frame]").fill(join_request(APP_KEY, "70B3D5E75E000001"))
        await page.locator("form.verify-form button[type=submit]").click()
        await expect(page.locator(".verify-result")).to_have_attribute("data-result", "match")
        await shot(page, "devices-04-device-page", language)
        await page.goto(f"/console#/devices/{ids['O1']}")
        await expect(page.locator("[data-panel=oms-identifiers]")).to_be_visible()
        await shot(page, "devices-05-device-page-oms", language)
        await page.locator("[data-menu=logout]").click()
        await expect(page.locator("form.login")).to_be_visible()
    missing = await page.evaluate("async () => (await import('/console/static/core/i18n.js')).missingTranslations()")
    assert missing == []
    assert json.dumps(missing) == "[]"
