"""Admin > Audit log in a real browser: the events of actions done before (time in the user's language,
actor, organisation, action, target, details), the action filter, "Show more", and "Verify audit log",
which says OK until a row is edited in the database and then names the row where the chain breaks."""

from __future__ import annotations

import json

from browser import LANGUAGES, login, logout, shot
from playwright.async_api import expect

from models.audit import AuditEvent
from models.organisations import Organisation
from models.users import User
from resolvers import audit

CREATE_ORG = 'mutation { createOrganisation(input: {name: "Audit Branch", yourReference: "R-7"}) { id } }'
ADD_PARTNER = "mutation($id: ID!) { addPartner(organisationId: $id) { id } }"


async def test_platform_admin_sees_earlier_actions_and_verify_finds_a_tampered_row(page, world, as_user):
    # given: actions done through the API before
    admin_a = await as_user("admin_a")
    await admin_a.ok(CREATE_ORG)
    platform = await as_user("platform_admin")
    await platform.ok(ADD_PARTNER, {"id": str(world.orgs["partner"].id)})
    branch = await Organisation.get(name="Audit Branch")

    # when
    await login(page, world.users["platform_admin"].email)
    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Audit log").click()

    # then: every event, newest first, as the API gives them
    await expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    count = await AuditEvent.all().count()
    await expect(page.locator("[data-total=audit]")).to_have_text(f"Total events: {count}")
    await expect(page.locator("tr[data-event]")).to_have_count(count)
    newest = await AuditEvent.all().order_by("-seq").first()
    await expect(page.locator("tr[data-event]").first).to_have_attribute("data-event", str(newest.id))
    created = await AuditEvent.get(action="organisation.created")
    row = page.locator(f"tr[data-event='{created.id}']")
    cells = row.locator("td")
    await expect(cells.nth(1)).to_have_text("user:admin_a@example.com")
    await expect(cells.nth(2)).to_have_text("Audit Branch")  # the event belongs to the new organisation
    await expect(cells.nth(3)).to_have_text("organisation.created")
    await expect(cells.nth(4)).to_have_text(f"organisation:{branch.id}")
    await expect(cells.nth(5)).to_have_text(created.details)
    assert json.loads(created.details)["name"] == "Audit Branch"
    # the time in the language's format (en-GB: "26 Nov 2026, 04:30:12"), with the exact instant kept
    time = cells.nth(0).locator("time")
    assert await time.get_attribute("datetime")
    assert created.at.strftime("%Y") in await time.inner_text()
    await expect(page.locator("tr[data-event]", has_text="user:platform_admin@example.com").first).to_be_visible()

    # the filter the API offers: the action
    await page.get_by_label("Action", exact=True).fill("partner.added")
    await page.get_by_label("Action", exact=True).press("Enter")
    await expect(page.locator("[data-total=audit]")).to_have_text("Total events: 1")
    await expect(page.locator("tr[data-event] td").nth(4)).to_have_text(f"organisation:{world.orgs['partner'].id}")
    await page.get_by_label("Action", exact=True).fill("")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("[data-total=audit]")).to_have_text(f"Total events: {count}")

    # verify: intact
    result = page.locator("[data-verification=audit]")
    await page.get_by_role("button", name="Verify audit log").click()
    await expect(result).to_have_attribute("data-result", "ok")
    await expect(result).to_have_text(f"The audit log is intact: {count} events checked, the chain is unbroken.")

    # tamper with a row directly in the database: verify names it
    await AuditEvent.filter(id=created.id).update(details=json.dumps({"name": "Forged Branch"}))
    await page.get_by_role("button", name="Verify audit log").click()
    await expect(result).to_have_attribute("data-result", "broken")
    await expect(result).to_have_text(
        f"The audit log has been altered: the chain breaks at event no. {created.seq} (ID {created.id}). "
        "The events before it are intact."
    )
    await expect(page.locator(f"tr[data-event='{created.id}']")).to_have_class("audit-broken")
    await expect(page.locator("tr.audit-broken")).to_have_count(1)


async def test_show_more_pages_through_the_events(page, world):
    for n in range(60):
        await audit.record("devices.labelled", None, actor_label="script", target=f"device:{n}")
    await login(page, world.users["platform_admin"].email)
    await page.goto("/console#/audit?action=devices.labelled")
    await expect(page.locator("[data-total=audit]")).to_have_text("Total events: 60")
    rows = page.locator("tr[data-event]")
    await expect(rows).to_have_count(50)
    await expect(rows.first.locator("td").nth(4)).to_have_text("device:59")
    await page.get_by_role("button", name="Show more events").click()
    await expect(rows).to_have_count(60)
    await expect(rows.last.locator("td").nth(4)).to_have_text("device:0")
    await expect(page.get_by_role("button", name="Show more events")).to_be_hidden()
    targets = await rows.locator("td:nth-child(5)").all_inner_texts()
    assert len(set(targets)) == 60  # no event twice across the pages


async def test_otc_admin_reads_its_subtree_without_verify_and_key_manager_its_own_events(page, world, as_user):
    rename = 'mutation($id: ID!) { updateOrganisation(id: $id, input: {yourReference: "B-1"}) { id } }'
    # customer B's administrator edits its organisation (which needs the right to create organisations)
    await Organisation.filter(id=world.orgs["customer_b"].id).update(can_create_organisations=True)
    await (await as_user("admin_b")).ok(rename, {"id": str(world.orgs["customer_b"].id)})
    await as_user("keys_a")  # a login of keys_a: its own event
    await login(page, world.users["admin_a"].email)
    await page.goto("/console#/audit")
    await expect(page.get_by_text("Events of your organisation and the organisations below it")).to_be_visible()
    visible = await AuditEvent.filter(organisation_path__startswith=world.orgs["customer_a"].path).count()
    await expect(page.locator("[data-total=audit]")).to_have_text(f"Total events: {visible}")
    await expect(page.locator("tr[data-event]", has_text="admin_b@example.com")).to_have_count(0)
    await expect(page.get_by_role("button", name="Verify audit log")).to_have_count(0)
    await logout(page)

    await login(page, world.users["keys_a"].email)
    await page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Audit log").click()
    await expect(page.get_by_text("Your own actions")).to_be_visible()
    own = await AuditEvent.filter(actor_user_id=world.users["keys_a"].id).count()
    assert own >= 2
    await expect(page.locator("[data-total=audit]")).to_have_text(f"Total events: {own}")
    await expect(page.locator("tr[data-event] td:nth-child(2)")).to_have_text(["user:keys_a@example.com"] * own)
    await expect(page.get_by_role("button", name="Verify audit log")).to_have_count(0)
    await logout(page)

    await login(page, world.users["viewer_a"].email)
    await expect(page.locator("[data-menu=audit]")).to_have_count(0)
    await page.goto("/console#/audit")
    await expect(page.get_by_role("heading", name="Not available")).to_be_visible()


async def test_audit_screens_in_all_four_languages(page, world, as_user):
    await (await as_user("admin_a")).ok(CREATE_ORG)
    admin = world.users["platform_admin"]
    first = await AuditEvent.all().order_by("seq").first()
    await AuditEvent.filter(id=first.id).update(actor="user:intruder@example.com")
    for language in LANGUAGES:
        await User.filter(id=admin.id).update(language=language)
        await login(page, admin.email)
        await page.goto("/console#/audit")
        await expect(page.locator("tr[data-event]").first).to_be_visible()
        await page.locator("[data-action=verify-audit]").click()
        await expect(page.locator("[data-verification=audit]")).to_have_attribute("data-result", "broken")
        await shot(page, "audit-01-log", language)
        await logout(page)
