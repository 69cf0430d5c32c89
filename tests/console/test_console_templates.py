"""Admin > Email templates in a real browser, walking manual 9.9: the list with its filters and total, the
row menu (keyboard too), create a copy, edit it in the rich-text editor, preview, activate, send a test
email into the demo mailbox, delete with confirmation; TEMPLATE_INVALID next to the editor."""

from __future__ import annotations

import re
import uuid

from browser import LANGUAGES, login, logout, shot
from playwright.async_api import Page, expect

from console.web import STATIC_DIR
from models.email_templates import EmailTemplate
from models.outbox import OutboxMessage
from models.users import User
from resolvers import email_rendering, outbox
from resolvers.smtp import Mailbox

SYSTEM_EN = "System Default Confirm Email (en)"
COPY_EN = "COPY OF System Default Confirm Email (en)"
TITLE = {
    "EN": "Email templates",
    "DE": "E-Mail-Vorlagen",
    "ES": "Plantillas de correo electrónico",
    "SV": "E-postmallar",
}

# The user_name placeholder's description in each language (plugins/templates/messages.js).
USER_NAME_PLACEHOLDER = {
    "EN": "Full name of the person receiving the email.",
    "DE": "Vollständiger Name der Person, die die E-Mail erhält.",
    "ES": "Nombre completo de la persona que recibe el correo.",
    "SV": "Fullständigt namn på personen som får e-postmeddelandet.",
}


def styles_of(body: str) -> set[str]:
    """The style attributes of a stored body, as written."""
    return set(re.findall(r'style="[^"]*"', body))


def row(page: Page, name: str):
    return page.locator(f'tr[data-template="{name}"]')


async def open_menu(page: Page, name: str):
    """Open a row's menu with the keyboard (focus the ⋮ button, Enter): the first item gets the focus."""
    trigger = row(page, name).locator(".tpl-menu-trigger")
    await trigger.focus()
    await trigger.press("Enter")
    menu = page.get_by_role("menu", name=re.compile(re.escape(name)))
    await expect(menu).to_be_visible()
    await expect(menu.get_by_role("menuitem").first).to_be_focused()
    return menu


async def choose(page: Page, name: str, action: str) -> None:
    menu = await open_menu(page, name)
    await menu.get_by_role("menuitem", name=action, exact=True).click()


async def deliver_to_mailbox(settings) -> int:
    """What the mail worker does (the test server runs with KMS_MAIL_WORKER=off): queued mails into the
    demo mailbox that the server reads."""
    return await outbox.deliver_due(outbox.MailboxSender(Mailbox(settings.mailbox_dir)))


async def test_copy_edit_preview_activate_test_mail_and_delete_a_template(page, world, settings):
    admin = world.users["admin_a"]
    await login(page, admin.email)
    menu = page.get_by_role("navigation", name="Main menu")
    await expect(menu.get_by_role("link", name="Demo mailbox")).to_have_count(0)  # platform admins only
    await menu.get_by_role("link", name="Email templates").click()
    await expect(page.get_by_role("heading", name="Email templates")).to_be_visible()
    await expect(page.locator("[data-total=templates]")).to_have_text("Total templates: 20")

    # filters: Type and Language narrow the list, the total follows
    await page.get_by_label("Type", exact=True).select_option("CONFIRM_EMAIL")
    await expect(page.locator("[data-total=templates]")).to_have_text("Total templates: 4")
    await page.get_by_label("Language", exact=True).select_option("EN")
    await expect(page.locator("[data-total=templates]")).to_have_text("Total templates: 1")
    await expect(page).to_have_url(re.compile(r"#/templates\?type=CONFIRM_EMAIL&language=EN$"))

    # 9.9.3 a system template offers no Edit / Delete, but Create copy; Escape closes the menu
    items = await open_menu(page, SYSTEM_EN)
    labels = await items.get_by_role("menuitem").all_inner_texts()
    assert labels == ["Send test email", "Preview", "Activate", "Create copy"]  # Activate: back to the system one
    await page.keyboard.press("ArrowDown")
    await expect(items.get_by_role("menuitem", name="Preview")).to_be_focused()
    await page.keyboard.press("End")
    await expect(items.get_by_role("menuitem", name="Create copy")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(items).to_be_hidden()
    await expect(row(page, SYSTEM_EN).locator(".tpl-menu-trigger")).to_be_focused()
    await choose(page, SYSTEM_EN, "Create copy")
    await expect(page.get_by_role("status")).to_contain_text(f"The copy “{COPY_EN}” has been created")
    await expect(row(page, COPY_EN)).to_contain_text("Inactive")
    await expect(page.locator("[data-total=templates]")).to_have_text("Total templates: 2")
    copy = await EmailTemplate.get(name=COPY_EN)
    assert not copy.active and not copy.is_system and copy.organisation_id == world.orgs["customer_a"].id

    # 9.9.5 edit the copy: new name, text made bold, a placeholder inserted at the cursor
    await choose(page, COPY_EN, "Edit template")
    await expect(page.get_by_role("heading", name="Edit email template")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Customer A confirm (en)")
    editor = page.get_by_role("textbox", name="Email text (HTML part)")
    await expect(editor).to_contain_text("Hello {{ user_name }}")
    await editor.click()
    await page.keyboard.press("Control+End")
    await page.keyboard.press("Enter")
    await page.keyboard.type("Welcome aboard")
    await page.keyboard.press("Shift+Home")
    await page.get_by_role("button", name="Bold").click()
    await expect(page.get_by_role("button", name="Bold")).to_have_attribute("aria-pressed", "true")
    await page.keyboard.press("End")
    await page.get_by_role("button", name="Bold").click()  # bold off for what follows
    await page.keyboard.type(", dear ")
    await page.get_by_role("button", name="{{ user_name }}").click()
    await page.keyboard.type("!")
    # a bulleted list with a link (a javascript: address is refused)
    await page.keyboard.press("Enter")
    await page.get_by_role("button", name="Bulleted list").click()
    await page.keyboard.type("Help centre")
    await page.keyboard.press("Shift+Home")
    await page.get_by_role("button", name="Link", exact=True).click()
    link_dialog = page.get_by_role("dialog", name="Insert link")
    await link_dialog.get_by_label("Web address").fill("javascript:alert(1)")
    await link_dialog.get_by_role("button", name="Insert link").click()
    await expect(link_dialog.get_by_role("alert")).to_contain_text("Enter an address starting with")
    await link_dialog.get_by_label("Web address").fill("https://help.example.com/kms")
    await link_dialog.get_by_role("button", name="Insert link").click()
    await expect(editor.locator('li a[href="https://help.example.com/kms"]')).to_have_text("Help centre")
    # a placeholder goes into the subject too, where its cursor was
    subject = page.get_by_label("Subject", exact=True)
    await subject.click()
    await subject.press("End")
    await subject.press_sequentially(" for ")
    await page.get_by_role("button", name="{{ user_name }}").click()
    await expect(subject).to_have_value("Confirm your email address for Meter KMS for {{ user_name }}")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("The template “Customer A confirm (en)” has been saved.")
    saved = await EmailTemplate.get(id=copy.id)
    assert saved.name == "Customer A confirm (en)"
    assert re.search(r"<(b|strong)>Welcome aboard</(b|strong)>, dear \{\{ user_name \}\}!", saved.body), saved.body
    assert re.search(r'<ul><li><a href="https://help\.example\.com/kms"[^>]*>Help centre</a></li></ul>', saved.body)
    assert saved.subject == "Confirm your email address for Meter KMS for {{ user_name }}"
    assert "<script" not in saved.body and "{{ action_link }}" in saved.body
    assert styles_of(copy.body) <= styles_of(saved.body), saved.body  # the button and footer keep their look
    await expect(page.locator("[data-part=text]")).to_contain_text("Welcome aboard, dear Demo Integra!")

    # 9.9.2 preview: the saved version with sample values, the HTML part rebuilt without markup injection
    await page.get_by_role("button", name="Preview").click()
    dialog = page.get_by_role("dialog", name="Preview: Customer A confirm (en)")
    await expect(dialog.locator(".mail-html b, .mail-html strong")).to_have_text("Welcome aboard")
    await expect(dialog.locator(".mail-html")).to_contain_text("dear Demo Integra!")
    link = dialog.locator(".mail-html a").first
    await expect(link).to_have_attribute("href", re.compile(r"^https://kms\.example\.com/"))
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    assert await dialog.locator(".mail-html script").count() == 0
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_have_count(0)

    # an unknown placeholder: TEMPLATE_INVALID's message next to the editor, nothing stored
    await editor.click()
    await page.keyboard.press("Control+End")
    await page.keyboard.type(" {{ favourite_colour }}")
    await page.get_by_role("button", name="Save").click()
    alert = page.locator(".editor-message [role=alert]")
    await expect(alert).to_contain_text("The template cannot be rendered. Check its placeholders.")
    await expect(alert).to_contain_text("unknown placeholder favourite_colour")
    assert "favourite_colour" not in (await EmailTemplate.get(id=copy.id)).body

    # 9.9.4 activate it; then activating a second copy deactivates the first
    await page.get_by_role("link", name="Back to the list").click()
    await expect(page.locator("[data-total=templates]")).to_have_text("Total templates: 21")
    await choose(page, "Customer A confirm (en)", "Activate")
    await expect(page.get_by_role("status")).to_have_text("“Customer A confirm (en)” is now active.")
    await expect(row(page, "Customer A confirm (en)")).to_contain_text("Active")
    assert (await EmailTemplate.get(id=copy.id)).active
    await choose(page, SYSTEM_EN, "Create copy")
    await expect(row(page, COPY_EN)).to_be_visible()
    menu_of_copy = await open_menu(page, COPY_EN)
    await menu_of_copy.get_by_role("menuitem", name="Activate").click()
    await expect(row(page, COPY_EN)).to_contain_text("Active")
    await expect(row(page, "Customer A confirm (en)")).to_contain_text("Inactive")
    second = await EmailTemplate.get(name=COPY_EN)
    assert second.active and not (await EmailTemplate.get(id=copy.id)).active
    # activating the system template again retires the organisation's copy
    await choose(page, SYSTEM_EN, "Activate")
    await expect(row(page, COPY_EN)).to_contain_text("Inactive")
    assert not (await EmailTemplate.get(name=COPY_EN)).active

    # 9.9.1 send a test email of the edited copy to an entered address; it arrives in the demo mailbox
    address = f"qa-{uuid.uuid4().hex[:8]}@example.com"
    await choose(page, "Customer A confirm (en)", "Send test email")
    dialog = page.get_by_role("dialog", name="Send test email")
    recipient = dialog.get_by_label("Email address of the recipient")
    await expect(recipient).to_have_value(admin.email)
    await recipient.fill(address)
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("status")).to_have_text(f"The test email has been sent to {address}.")
    assert await OutboxMessage.filter(to=address, status="PENDING").count() == 1
    assert await deliver_to_mailbox(settings) == 1
    (mail,) = [m for m in Mailbox(settings.mailbox_dir).latest(50) if m.to == address]
    assert mail.subject == "Confirm your email address for Meter KMS for Demo Integra"
    assert "Welcome aboard, dear Demo Integra!" in mail.text

    # 9.9.6 delete the second copy: Cancel keeps it, Confirm deletes it
    await choose(page, COPY_EN, "Delete template")
    dialog = page.get_by_role("dialog", name="Delete template")
    await expect(dialog).to_contain_text(f"Do you really want to delete “{COPY_EN}”?")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    assert await EmailTemplate.filter(id=second.id).exists()
    await choose(page, COPY_EN, "Delete template")
    await page.get_by_role("dialog", name="Delete template").get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("status")).to_have_text(f"The template “{COPY_EN}” has been deleted.")
    await expect(row(page, COPY_EN)).to_have_count(0)
    assert not await EmailTemplate.filter(id=second.id).exists()
    assert await EmailTemplate.filter(id=copy.id).exists()


def test_the_editor_keeps_the_css_properties_the_server_keeps():
    """safehtml.js mirrors _STYLE_PROPERTIES: a property only one side knows is lost or refused silently."""
    source = (STATIC_DIR / "core/safehtml.js").read_text()
    declared = re.search(r"STYLE_PROPERTIES = Object\.freeze\(\s*\((.*?)\)\.split", source, re.S)
    assert declared, "STYLE_PROPERTIES not found in safehtml.js"
    names = "".join(re.findall(r'"([^"]*)"', declared.group(1))).split()
    assert sorted(names) == sorted(email_rendering._STYLE_PROPERTIES)


def test_placeholder_descriptions_are_translated_for_every_placeholder_the_server_knows():
    """The console names each placeholder in the user's language; its English text is the API's own, so a
    placeholder added on the server without translations fails here."""
    source = (STATIC_DIR / "plugins/templates/messages.js").read_text()
    english = {
        f"{kind}.{name}": text for kind, names in email_rendering.PLACEHOLDERS.items() for name, text in names.items()
    }
    for language in LANGUAGES:
        block = source[source.index(f"  {language}: {{") :]
        block = block[: block.index("\n  },")]
        found = dict(re.findall(r'"templates\.placeholder\.(\w+\.\w+)": "([^"]*)"', block))
        if language == "EN":
            assert found == english
        else:
            assert set(found) == set(english), language
            assert all(found[key] != english[key] for key in english), language  # translated, not copied


async def test_inline_styles_survive_editing_and_show_in_the_preview(page, world, as_user):
    """The button and the footer of a system template keep their inline styles when the copy is edited in
    the browser (applied through CSSOM: the page fixture fails on any CSP report) and saved."""
    api = await as_user("admin_a")
    system = await EmailTemplate.get(is_system=True, type="CONFIRM_EMAIL", language="EN")
    copied = await api.ok("mutation($id: ID!) { copyEmailTemplate(id: $id) { id name } }", {"id": str(system.id)})
    copy = await EmailTemplate.get(id=copied["copyEmailTemplate"]["id"])
    button_style = "background-color:#0b5cad"
    footer_style = "color:#6b7280"
    assert button_style in copy.body and footer_style in copy.body

    await login(page, world.users["admin_a"].email)
    await page.goto(f"/console#/templates/{copy.id}/edit")
    editor = page.get_by_role("textbox", name="Email text (HTML part)")
    await expect(editor).to_contain_text("Hello {{ user_name }}")
    button = editor.locator("a", has_text="Confirm email address")
    assert await button.evaluate("a => getComputedStyle(a).backgroundColor") == "rgb(11, 92, 173)"
    assert await editor.locator("[style]").count() == len(styles_of(copy.body))
    await editor.get_by_text("Hello").click()
    await page.keyboard.press("Home")
    await page.keyboard.type("Welcome! ")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("has been saved")

    saved = await EmailTemplate.get(id=copy.id)
    assert "<p>Welcome! Hello {{ user_name }},</p>" in saved.body, saved.body
    assert styles_of(saved.body) == styles_of(copy.body), saved.body  # every declaration as written
    assert re.search(rf'<a href="\{{\{{ action_link \}}\}}" style="[^"]*{button_style}[^"]*"', saved.body)
    assert re.search(rf'<p style="[^"]*{footer_style}[^"]*">This email was sent automatically', saved.body)

    # the preview shows the saved version styled; its links stay safe
    await page.get_by_role("button", name="Preview").click()
    dialog = page.get_by_role("dialog", name=re.compile("^Preview: "))
    html = dialog.locator(".mail-html")
    await expect(html).to_contain_text("Welcome! Hello Demo Integra,")
    link = html.locator("a", has_text="Confirm email address")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(link).to_have_attribute("href", re.compile(r"^https://kms\.example\.com/"))
    styled = await link.evaluate(
        "a => { const s = getComputedStyle(a); return [s.backgroundColor, s.color, s.display]; }"
    )
    assert styled == ["rgb(11, 92, 173)", "rgb(255, 255, 255)", "inline-block"]
    footer = html.locator("p", has_text="This email was sent automatically")
    assert await footer.evaluate("p => getComputedStyle(p).color") == "rgb(107, 114, 128)"
    assert await html.locator("script, [data-kms-style]").count() == 0


async def test_a_system_template_opens_with_create_copy_instead_of_the_editor(page, world):
    system = await EmailTemplate.get(is_system=True, type="INVITE_USER", language="DE")
    await login(page, world.users["admin_a"].email)
    await page.goto(f"/console#/templates/{system.id}/edit")
    await expect(page.get_by_text("is a system template and cannot be changed")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Email text (HTML part)")).to_have_count(0)
    await page.get_by_role("button", name="Create copy").click()
    await expect(page.get_by_role("status")).to_contain_text("has been created")
    copy = await EmailTemplate.get(is_system=False, type="INVITE_USER", language="DE")
    await expect(page).to_have_url(re.compile(rf"#/templates/{copy.id}/edit$"))
    await expect(page.get_by_label("Name", exact=True)).to_have_value(f"COPY OF {system.name}")


async def test_a_key_manager_has_no_email_templates(page, world):
    await login(page, world.users["keys_a"].email)
    menu = page.get_by_role("navigation", name="Main menu")
    await expect(menu.get_by_role("link", name="Devices")).to_be_visible()
    await expect(menu.get_by_role("link", name="Email templates")).to_have_count(0)
    await page.goto("/console#/templates")
    await expect(page.get_by_role("heading", name="Not available")).to_be_visible()


async def test_template_screens_in_all_four_languages(page, world, as_user):
    admin = world.users["admin_a"]
    api = await as_user("admin_a")
    system = await EmailTemplate.get(is_system=True, type="RESET_PASSWORD", language="EN")
    copied = await api.ok("mutation($id: ID!) { copyEmailTemplate(id: $id) { id name } }", {"id": str(system.id)})
    copy_id = copied["copyEmailTemplate"]["id"]
    copy_name = copied["copyEmailTemplate"]["name"]
    for language in LANGUAGES:
        await User.filter(id=admin.id).update(language=language)
        await login(page, admin.email)
        await page.goto("/console#/templates")
        await expect(page.get_by_role("heading", name=TITLE[language], exact=True)).to_be_visible()
        await expect(page.locator("tr[data-template]")).to_have_count(21)
        await shot(page, "templates-01-list", language)
        await open_menu(page, copy_name)
        await shot(page, "templates-02-row-menu", language)
        await page.keyboard.press("Escape")
        await page.goto(f"/console#/templates/{copy_id}/edit")
        await expect(page.locator(".rte-area")).to_contain_text("{{ user_name }}")
        await expect(page.locator("#ph-user_name")).to_have_text(USER_NAME_PLACEHOLDER[language])
        await shot(page, "templates-03-editor", language)
        await page.locator("[data-action=preview]").click()
        await expect(page.locator("dialog .mail-html")).to_contain_text("Demo Integra")
        await shot(page, "templates-04-preview", language)
        await page.keyboard.press("Escape")
        await expect(page.locator("dialog")).to_have_count(0)
        await logout(page)
