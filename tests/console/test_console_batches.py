"""Batch references and taking ownership in the console (manual 10.5-10.7), walking the main flow of
design/architecture.md in a real browser: the platform operator sends a batch from an uploaded CSV file
with "Ownership request needs confirmation", the customer's admin follows the "New batch" mail's link,
logs in and takes ownership, the key manager claims the devices and downloads their keys; another
customer sees none of it. Every step is checked in the database, not only on the screen."""

from __future__ import annotations

import re
from pathlib import Path

from browser import LANGUAGES, login, logout, shot
from conftest import PASSWORD
from mailtest import mailbox_mails
from playwright.async_api import Page, expect
from test_batches import TAKE
from test_devices import APP_KEY, IMPORT, OMS_KEY, lora, oms

from models.devices import BatchReference, Device, DeviceLabel
from models.users import User

SERIALS = ("BR-LORA-1", "BR-LORA-2", "BR-OMS-1")
CSV = b"\xef\xbb\xbfserial_number\nBR-LORA-1\nBR-LORA-2\nBR-OMS-1\n"
REFERENCE = "BR-2026-K7Q4-XN2P"
CREATE = """mutation($in: CreateBatchReferenceInput!) { createBatchReference(input: $in) { batchReference { id } } }"""


async def import_devices(as_user, world) -> None:
    """The platform operator imports three devices (two LoRaWAN, one wM-Bus) into its own organisation."""
    platform = await as_user("platform_admin")
    rows = [lora("BR-LORA-1", "70B3D5E75E00A001"), lora("BR-LORA-2", "70B3D5E75E00A002"), oms("BR-OMS-1", "20096299")]
    await platform.ok(IMPORT, {"org": str(world.orgs["platform"].id), "rows": rows})


async def owners(serials=SERIALS) -> dict[str, tuple[str, str]]:
    devices = await Device.filter(serial_number__in=list(serials)).prefetch_related("owner")
    return {d.serial_number: (d.owner.name, d.claim_status) for d in devices}


async def new_batch_mail(settings, to: str, reference: str):
    """Run the outbox once (the server runs without its worker) and return the "New batch" mail to `to`."""
    mails = [m for m in await mailbox_mails(settings, to) if reference in m.text]
    assert len(mails) == 1, [m.subject for m in mails]
    return mails[0]


async def open_create_form(page: Page) -> None:
    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Batch references").click()
    await page.get_by_role("link", name="+ Create batch reference").click()
    await expect(page.get_by_role("heading", name="Create batch reference")).to_be_visible()


async def test_main_flow_batch_from_a_file_taken_over_claimed_and_keys_downloaded(page, world, as_user, settings):
    # given: devices imported by the platform operator (API)
    await import_devices(as_user, world)
    await login(page, world.users["platform_admin"].email)

    # when: 10.7 create a batch reference from a CSV file, with confirmation, for Customer A
    await open_create_form(page)
    await page.get_by_label("Batch reference", exact=True).fill(REFERENCE)
    file_input = page.get_by_label("Choose file")
    await expect(file_input).to_have_attribute("accept", re.compile(r"\.txt,\.csv"))
    await file_input.set_input_files({"name": "delivery.csv", "mimeType": "text/csv", "buffer": CSV})
    await expect(page.locator(".file-info")).to_contain_text("delivery.csv")
    await page.get_by_label("Ownership request needs confirmation").check()
    await page.get_by_label("Label", exact=True).fill("Delivery 12")
    organisation = page.get_by_label("Organisation", exact=True)
    await expect(organisation.locator("option", has_text="IntegraDemo (your organisation)")).to_have_count(1)
    # the selection bar narrows the organisations (manual 10.7)
    await page.get_by_label("Find an organisation by name").fill("sub")
    await expect(organisation.locator("option[value]:not([value=''])")).to_have_text(["Customer A Sub"])
    await page.get_by_label("Find an organisation by name").fill("")
    await expect(organisation.locator("option", has_text="Customer B")).to_have_count(1)
    await organisation.select_option(label="Customer A")
    await page.get_by_role("button", name="Save").click()

    # then: the batch page; the batch waits for confirmation and the devices stay with the sender
    await expect(page.get_by_role("heading", name=f"Batch reference {REFERENCE}")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("Its administrators have been emailed")
    await expect(page.locator(".facts [data-state]")).to_have_text("Awaiting confirmation")
    await expect(page.locator("tr[data-serial]")).to_have_count(3)
    await expect(page.locator("[data-total=batch-devices]")).to_have_text("Total devices: 3")
    batch = await BatchReference.get(reference=REFERENCE).prefetch_related("organisation")
    assert batch.state == "PENDING_CONFIRMATION" and batch.requires_confirmation and batch.device_count == 3
    assert batch.organisation.name == "Customer A" and batch.label == "Delivery 12"
    assert await owners() == {s: ("IntegraDemo", "UNCLAIMED") for s in SERIALS}

    # the list shows it, with the total
    await page.get_by_role("link", name="← All batch references").click()
    row = page.locator(f"tr[data-batch='{REFERENCE}']")
    await expect(row).to_contain_text("Customer A")
    await expect(row).to_contain_text("Awaiting confirmation")
    await expect(page.locator("[data-total=batches]")).to_have_text("Total batch references: 1")

    # when: the New batch mail reaches Customer A's admin, who opens its link without a session
    mail = await new_batch_mail(settings, world.users["admin_a"].email, REFERENCE)
    link = re.search(r"https?://\S+/console/take-ownership\?reference=[\w%+.-]+", mail.text)
    assert link, mail.text
    await logout(page)
    await page.goto(link.group(0))
    await expect(page.locator("form.login")).to_be_visible()
    await login_here(page, world.users["admin_a"].email)

    # then: after the login the console comes back to Take ownership (10.5)
    await expect(page.get_by_role("heading", name="Take ownership")).to_be_visible()
    await expect(page).to_have_url(re.compile(rf"#/take-ownership\?reference={REFERENCE}$"))
    await expect(page.get_by_label("Batch reference", exact=True)).to_have_value(REFERENCE)  # from the link
    await page.get_by_label("Label").fill("Block 7")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"You now own 3 devices of batch {REFERENCE}. They are unclaimed until you claim them."
    )
    catalog = page.get_by_role("link", name="Show the devices in the device catalog")
    await expect(catalog).to_have_attribute("href", f"#/devices?batch={REFERENCE}")
    assert await owners() == {s: ("Customer A", "UNCLAIMED") for s in SERIALS}
    labels = await DeviceLabel.filter(device__serial_number__in=list(SERIALS)).values_list("label", flat=True)
    assert sorted(labels) == ["Block 7"] * 3
    batch = await BatchReference.get(id=batch.id)
    assert batch.state == "ACCEPTED" and batch.label == "Block 7"
    await page.get_by_role("link", name="Show the batch reference").click()
    await expect(page.locator(".facts [data-state]")).to_have_text("Delivered")
    await expect(page.locator("tr[data-serial] [data-status=UNCLAIMED]")).to_have_count(3)

    # when: the key manager claims the devices and downloads their keys in the catalog (10.3, 10.4)
    await logout(page)
    await login(page, world.users["keys_a"].email)
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
    for serial in SERIALS:
        await page.get_by_label(f"Select {serial}").check()
    await page.get_by_role("button", name="Claim devices").click()
    await expect(page.get_by_role("status").filter(has_text="3 devices claimed.")).to_be_visible()
    assert await owners() == {s: ("Customer A", "CLAIMED") for s in SERIALS}
    await page.get_by_label("Key file format").select_option("csv")
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download keys").click()
    content = Path(await (await download_info.value).path()).read_text().lower()
    # then: the file holds the imported keys
    assert all(s.lower() in content for s in SERIALS)
    assert APP_KEY in content and OMS_KEY in content

    # Customer B's admin sees none of it, and the same reference is "not found" for it
    await logout(page)
    await login(page, world.users["admin_b"].email)
    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Batch references").click()
    await expect(page.locator("[data-total=batches]")).to_have_text("Total batch references: 0")
    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Take ownership").click()
    await expect(page.get_by_role("heading", name="Take ownership")).to_be_visible()
    await page.get_by_label("Batch reference", exact=True).fill(REFERENCE)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "No batch with this reference is waiting for your organisation."
    )
    await expect(page.get_by_label("Batch reference", exact=True)).to_have_attribute("aria-invalid", "true")
    assert await owners() == {s: ("Customer A", "CLAIMED") for s in SERIALS}


async def login_here(page: Page, email: str) -> None:
    """Log in on the login screen the console is showing (keeping the route it came from)."""
    await page.locator("input[name=email]").fill(email)
    await page.locator("input[name=password]").fill(PASSWORD)
    await page.locator("form.login button[type=submit]").click()
    await expect(page.locator("form.login")).to_have_count(0)


async def test_unknown_typed_serials_are_refused_and_nothing_is_created(page, world, as_user):
    await import_devices(as_user, world)
    await login(page, world.users["platform_admin"].email)
    await open_create_form(page)
    await page.get_by_label("Batch reference", exact=True).fill("BR-TYPED-1")
    serials = page.get_by_label("Comma separated device serial numbers")
    await serials.fill("BR-LORA-1, NOPE-1;\nBR-OMS-1 BR-LORA-1")
    await expect(page.locator("[data-typed]")).to_have_text("3 serial numbers entered.")
    # ADD DEVICE moves them into the SERIAL NUMBER list with its count (manual 10.7)
    added = page.get_by_role("region", name="Serial numbers added")
    await expect(added.locator(".serial-count")).to_have_text("0")
    await page.get_by_role("button", name="Add device").click()
    await expect(serials).to_have_value("")
    await expect(added.locator("tr[data-serial]")).to_have_count(3)
    await expect(added.locator(".serial-count")).to_have_text("3")
    await serials.fill("NOPE-2")  # typed, not added yet: it counts too
    await expect(page.locator("[data-typed]")).to_have_text("4 serial numbers entered.")
    await page.get_by_role("button", name="Add device").click()
    await expect(added.locator("tr[data-serial] td:first-child")).to_have_text(
        ["BR-LORA-1", "NOPE-1", "BR-OMS-1", "NOPE-2"]
    )
    await page.get_by_label("Organisation", exact=True).select_option(label="Customer B")
    await page.get_by_role("button", name="Save").click()

    # then: the unknown serial numbers are listed with the reason, and nothing changed
    await expect(page.get_by_role("alert")).to_have_text(
        "Nothing was created: 2 serial numbers are unknown or not yours."
    )
    for serial in ("NOPE-1", "NOPE-2"):
        await expect(page.locator(f".refused li[data-serial={serial}]")).to_contain_text("unknown, or not owned by")
    await expect(page.locator(".refused li")).to_have_count(2)
    assert await BatchReference.all().count() == 0
    assert await owners() == {s: ("IntegraDemo", "UNCLAIMED") for s in SERIALS}

    # when: the unknown ones are removed, the batch (without confirmation) moves the devices at once
    for serial in ("NOPE-1", "NOPE-2"):
        await page.get_by_role("button", name=f"Remove {serial}").click()
    await expect(added.locator(".serial-count")).to_have_text("2")
    await expect(page.locator("[data-typed]")).to_have_text("2 serial numbers entered.")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name="Batch reference BR-TYPED-1")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text(
        "Batch reference BR-TYPED-1 created: 2 devices now belong to Customer B."
    )
    await expect(page.locator(".facts [data-state]")).to_have_text("Delivered")
    await expect(page.get_by_role("link", name="Show these devices in the device catalog")).to_have_attribute(
        "href", "#/devices?batch=BR-TYPED-1"
    )
    assert (await BatchReference.get(reference="BR-TYPED-1")).state == "ACCEPTED"
    # the link opens the catalog filtered by the batch (the platform operator sees all three devices otherwise)
    await page.get_by_role("link", name="Show these devices in the device catalog").click()
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()
    await expect(page.locator("tr[data-serial]")).to_have_count(2)
    await expect(page.locator("[data-total=devices]")).to_have_text("Total devices: 2")
    assert await owners(("BR-LORA-1", "BR-OMS-1")) == {
        s: ("Customer B", "UNCLAIMED") for s in ("BR-LORA-1", "BR-OMS-1")
    }

    # the same reference again for that organisation: BATCH_REFERENCE_TAKEN, explained
    await page.goto("/console#/batches/new")
    await page.get_by_label("Batch reference", exact=True).fill("BR-TYPED-1")
    await page.get_by_label("Comma separated device serial numbers").fill("BR-LORA-2")
    await page.get_by_label("Organisation", exact=True).select_option(label="Customer B")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "This batch reference already exists for that organisation. Choose another one."
    )
    assert await BatchReference.all().count() == 1
    assert await owners(("BR-LORA-2",)) == {"BR-LORA-2": ("IntegraDemo", "UNCLAIMED")}

    # a file that is not .txt/.csv is refused before it is sent
    await page.get_by_label("Choose file").set_input_files(
        {"name": "keys.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"}
    )
    await expect(page.get_by_role("alert")).to_have_text(
        "This file cannot be read. Choose a .txt or .csv text file (UTF-8)."
    )


async def test_devices_waiting_in_another_batch_are_refused_with_the_reason(page, world, as_user):
    # given: BR-LORA-1 waits in a batch for Customer A to take ownership
    await import_devices(as_user, world)
    waiting = {"reference": "BR-WAIT", "organisationId": str(world.orgs["customer_a"].id)}
    await (await as_user("platform_admin")).ok(
        CREATE, {"in": {**waiting, "serialNumbers": ["BR-LORA-1"], "requiresConfirmation": True}}
    )
    await login(page, world.users["platform_admin"].email)
    # when: it is put in another batch, typed (the form opened from the sidebar, as in the manual's 10.1)
    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Create batch reference").click()
    await expect(page.get_by_role("heading", name="Create batch reference")).to_be_visible()
    await page.get_by_label("Batch reference", exact=True).fill("BR-AGAIN")
    await page.get_by_label("Comma separated device serial numbers").fill("BR-LORA-1 BR-OMS-1")
    await page.get_by_label("Organisation", exact=True).select_option(label="Customer B")
    await page.get_by_role("button", name="Save").click()
    # then: the message and the list say why, and nothing changed
    await expect(page.get_by_role("alert")).to_contain_text("some devices wait in a batch for another organisation")
    await expect(page.locator(".refused li[data-serial=BR-LORA-1]")).to_contain_text("waits in a batch")
    await expect(page.locator(".refused li")).to_have_count(1)
    assert await BatchReference.all().count() == 1
    # and from the catalog's selection
    await page.goto("/console#/devices")
    for serial in ("BR-LORA-1", "BR-OMS-1"):
        await page.get_by_label(f"Select {serial}").check()
    await page.get_by_role("button", name="+ Create batch from current selection").click()
    form = page.locator("form.batch-form")
    await form.get_by_label("Batch reference").fill("BR-SEL")
    await form.get_by_label("Target organisation").select_option(label="Customer B")
    await form.get_by_role("button", name="Create batch").click()
    await expect(page.get_by_role("alert")).to_contain_text("some devices wait in a batch for another organisation")
    await expect(page.locator(".refused li[data-serial=BR-LORA-1]")).to_contain_text("waits in a batch")
    assert await BatchReference.all().count() == 1


async def test_take_ownership_is_rate_limited_and_a_viewer_sees_no_batch_actions(page, world, as_user):
    admin_b = await as_user("admin_b")
    for i in range(10):
        assert await admin_b.code(TAKE, {"ref": f"GUESS-{i}"}) == "BATCH_NOT_FOUND"
    # a route with its query survives the login (the batch page links to #/take-ownership?reference=...)
    await page.goto("/console#/take-ownership?reference=GUESS-X")
    await login_here(page, world.users["admin_b"].email)
    await expect(page.get_by_label("Batch reference", exact=True)).to_have_value("GUESS-X")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Too many wrong batch references were tried\. For safety, try again in \d+ minutes\.$")
    )
    await logout(page)

    await login(page, world.users["viewer_a"].email)
    menu = page.get_by_role("navigation", name="Main menu")
    await expect(menu.get_by_role("link", name="Take ownership")).to_have_count(0)
    await menu.get_by_role("link", name="Batch references").click()
    await expect(page.get_by_role("heading", name="Batch references")).to_be_visible()
    await expect(page.get_by_role("link", name="+ Create batch reference")).to_have_count(0)
    for route in ("#/batches/new", "#/take-ownership"):
        await page.goto(f"/console{route}")
        await expect(page.get_by_role("heading", name="Not available")).to_be_visible()


TITLES = {
    "EN": ("Batch references", "Create batch reference", "Take ownership"),
    "DE": ("Chargenreferenzen", "Chargenreferenz erstellen", "Eigentümerschaft übernehmen"),
    "ES": ("Referencias de lote", "Crear referencia de lote", "Asumir la propiedad"),
    "SV": ("Batchreferenser", "Skapa batchreferens", "Ta över ägarskap"),
}


async def test_the_batch_list_filters_by_state_organisation_and_label(page, world, as_user):
    # manual 10.6: "Filters to narrow your search in the batch reference list are available"
    await import_devices(as_user, world)
    platform = await as_user("platform_admin")
    for reference, org, confirm, serials, label in (
        ("BR-A-1", "customer_a", False, ["BR-LORA-1"], "Plant 7"),
        ("BR-A-2", "customer_a", True, ["BR-OMS-1"], "Depot"),
        ("BR-B-1", "customer_b", True, ["BR-LORA-2"], "Plant 9"),
    ):
        new = {"reference": reference, "organisationId": str(world.orgs[org].id), "serialNumbers": serials}
        await platform.ok(CREATE, {"in": {**new, "requiresConfirmation": confirm, "label": label}})
    await login(page, world.users["platform_admin"].email)
    await page.goto("/console#/batches")
    batches = page.locator("tr[data-batch]")
    await expect(batches).to_have_count(3)
    filters = page.get_by_role("search", name="Batch reference filters")
    # when: only those awaiting confirmation
    await filters.get_by_label("State").select_option(label="Awaiting confirmation")
    await expect(batches).to_have_count(2)
    # and of those, the ones addressed to customer A
    await filters.get_by_label("Organisation").select_option(label="Customer A")
    await expect(batches).to_have_count(1)
    await expect(batches).to_have_attribute("data-batch", "BR-A-2")
    await expect(page.locator("[data-total=batches]")).to_have_text("Total batch references: 1")
    # the filters are in the address: a reload keeps them
    await page.reload()
    await expect(page.locator("tr[data-batch]")).to_have_count(1)
    await expect(page.get_by_role("search", name="Batch reference filters").get_by_label("State")).to_have_value(
        "PENDING_CONFIRMATION"
    )
    # a label, with the other filters back on All
    filters = page.get_by_role("search", name="Batch reference filters")
    await filters.get_by_label("State").select_option(value="")
    await filters.get_by_label("Organisation").select_option(value="")
    await expect(page.locator("[data-total=batches]")).to_have_text("Total batch references: 3")
    await filters.get_by_label("Label").fill("plant")
    await filters.get_by_role("button", name="Search").click()
    await expect(page.locator("[data-total=batches]")).to_have_text("Total batch references: 2")
    await expect(page.locator("tr[data-batch]")).to_have_count(2)
    await expect(page.locator("tr[data-batch='BR-A-2']")).to_have_count(0)


async def test_screenshots_of_the_batch_screens_in_every_language(page, world, as_user):
    await import_devices(as_user, world)
    platform = await as_user("platform_admin")
    for reference, org, confirm, serials in (
        ("BR-2026-0001", "customer_a", False, ["BR-LORA-1", "BR-OMS-1"]),
        ("BR-2026-0002", "customer_b", True, ["BR-LORA-2"]),
    ):
        new = {"reference": reference, "organisationId": str(world.orgs[org].id), "serialNumbers": serials}
        await platform.ok(CREATE, {"in": {**new, "requiresConfirmation": confirm, "label": "Plant 7"}})
    batch = await BatchReference.get(reference="BR-2026-0001")
    for language in LANGUAGES:
        listing, create, take = TITLES[language]
        await User.filter(id__in=[world.users["platform_admin"].id, world.users["admin_a"].id]).update(
            language=language
        )
        await login(page, world.users["platform_admin"].email)
        await page.goto("/console#/batches")
        await expect(page.get_by_role("heading", name=listing)).to_be_visible()
        await expect(page.locator("tr[data-batch]")).to_have_count(2)
        await shot(page, "batches-01-list", language)

        await page.goto(f"/console#/batches/{batch.id}")
        await expect(page.locator("tr[data-serial]")).to_have_count(2)
        await shot(page, "batches-02-batch", language)

        # the create form with a file chosen and sent: the upload's progress and the refused serial
        await page.goto("/console#/batches/new")
        await expect(page.get_by_role("heading", name=create)).to_be_visible()
        await page.locator("input[name=reference]").fill(f"BR-SHOT-{language}")
        await page.locator("input[type=file]").set_input_files(
            {"name": "delivery.csv", "mimeType": "text/csv", "buffer": b"BR-LORA-2;NOT-OURS-9\n"}
        )
        await page.locator("input[name=requiresConfirmation]").check()
        await page.locator("select[name=organisationId]").select_option(str(world.orgs["customer_a"].id))
        await page.locator("form.batch-create button[type=submit]").click()
        await expect(page.locator(".refused li[data-serial=NOT-OURS-9]")).to_be_visible()
        progress = page.locator(".upload-progress progress")
        await expect(progress).to_be_visible()
        await expect(progress).to_have_js_property("value", 100)
        await shot(page, "batches-03-create", language)
        assert not await BatchReference.filter(reference=f"BR-SHOT-{language}").exists()
        await logout(page)

        await login(page, world.users["admin_a"].email)
        await page.goto("/console#/take-ownership")
        await expect(page.get_by_role("heading", name=take)).to_be_visible()
        await page.locator("input[name=batchReference]").fill("BR-2026-0002")  # addressed to Customer B
        await page.locator("input[name=label]").fill("Plant 7")
        await page.locator("form.take-form button[type=submit]").click()
        await expect(page.get_by_role("alert")).to_be_visible()
        await shot(page, "batches-04-take-ownership", language)
        await logout(page)
    assert (await BatchReference.get(reference="BR-2026-0002")).state == "PENDING_CONFIRMATION"


async def test_the_sender_withdraws_a_batch_sent_to_the_wrong_organisation(page, world, as_user):
    # given: a batch that waits for Customer B, sent by mistake
    await import_devices(as_user, world)
    platform = await as_user("platform_admin")
    wrong = {"reference": "WRONG-1", "serialNumbers": list(SERIALS), "requiresConfirmation": True}
    sent = await platform.ok(CREATE, {"in": {**wrong, "organisationId": str(world.orgs["customer_b"].id)}})
    batch_id = sent["createBatchReference"]["batchReference"]["id"]
    await login(page, world.users["platform_admin"].email)
    await page.goto(f"/console#/batches/{batch_id}")
    await expect(page.locator("[data-state]").first).to_have_attribute("data-state", "PENDING_CONFIRMATION")
    # when: Withdraw batch, asked once more, then confirmed
    await page.get_by_role("button", name="Withdraw batch").click()
    asked = page.get_by_role("group", name="Withdraw batch")
    await expect(asked).to_contain_text("Customer B can then no longer take ownership")
    await asked.get_by_role("button", name="Cancel").click()
    await expect(asked).to_have_count(0)
    assert (await BatchReference.get(id=batch_id)).state == "PENDING_CONFIRMATION"
    await page.get_by_role("button", name="Withdraw batch").click()
    await page.get_by_role("group", name="Withdraw batch").get_by_role("button", name="Withdraw").click()
    # then
    await expect(page.get_by_role("status")).to_have_text(
        "“WRONG-1” was withdrawn; its devices are free for another batch."
    )
    await expect(page.locator("[data-state]").first).to_have_attribute("data-state", "WITHDRAWN")
    await expect(page.get_by_role("button", name="Withdraw batch")).to_have_count(0)
    assert (await BatchReference.get(id=batch_id)).state == "WITHDRAWN"
    assert await Device.filter(serial_number__in=list(SERIALS), batch_id=None).count() == len(SERIALS)
