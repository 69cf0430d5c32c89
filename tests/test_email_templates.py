"""Email templates (manual 9.9): list with filters, preview, test mail, copy, activate, edit, delete; the
resolution order (organisation, parents, system of the language, English); injection attempts."""

from __future__ import annotations

import pytest
from mailtest import deliver, html_of, mails_to, running_smtp, text_of

from models.email_templates import EmailTemplate
from models.outbox import OutboxMessage
from models.users import User
from resolvers import accounts

LIST = """query($filter: EmailTemplateFilter) { emailTemplates(filter: $filter) { totalCount
  nodes { id name type language active isSystem organisation { id } } } }"""
GET = "query($id: ID!) { emailTemplate(id: $id) { id name subject body preview { subject html text } } }"
COPY = "mutation($id: ID!) { copyEmailTemplate(id: $id) { id name type language active isSystem organisation { id } } }"
ACTIVATE = "mutation($id: ID!) { activateEmailTemplate(id: $id) { id active } }"
UPDATE = """mutation($id: ID!, $input: UpdateEmailTemplateInput!) { updateEmailTemplate(id: $id, input: $input) {
  id name language subject body } }"""
DELETE = "mutation($id: ID!) { deleteEmailTemplate(id: $id) }"
TEST_MAIL = "mutation($id: ID!, $to: String!) { sendTestEmail(templateId: $id, to: $to) }"
RESET = "mutation($e: String!) { requestPasswordReset(email: $e) }"

smtp = pytest.fixture(running_smtp, name="smtp")


async def system_id(email_type: str, language: str) -> str:
    return str((await EmailTemplate.get(is_system=True, type=email_type, language=language)).id)


async def copy_of(api, email_type="RESET_PASSWORD", language="EN") -> dict:
    return (await api.ok(COPY, {"id": await system_id(email_type, language)}))["copyEmailTemplate"]


async def test_the_list_shows_the_20_system_templates_with_filters(as_user, world):
    api = await as_user("admin_a")
    everything = (await api.ok(LIST))["emailTemplates"]
    assert everything["totalCount"] == 20
    assert all(n["isSystem"] and n["active"] and n["organisation"] is None for n in everything["nodes"])
    invites = (await api.ok(LIST, {"filter": {"type": "INVITE_USER"}}))["emailTemplates"]
    assert {n["language"] for n in invites["nodes"]} == {"EN", "DE", "ES", "SV"} and invites["totalCount"] == 4
    german = (await api.ok(LIST, {"filter": {"language": "DE", "active": True}}))["emailTemplates"]
    assert german["totalCount"] == 5
    assert (await api.ok(LIST, {"filter": {"active": False}}))["emailTemplates"]["totalCount"] == 0


async def test_preview_renders_sample_values(as_user, world):
    api = await as_user("admin_a")
    found = (await api.ok(GET, {"id": await system_id("RESET_PASSWORD", "DE")}))["emailTemplate"]
    assert found["preview"]["subject"] == "Passwort für Meter KMS zurücksetzen"
    assert "Demo Integra" in found["preview"]["text"] and "{{" not in found["preview"]["text"]
    assert found["preview"]["html"].startswith("<!DOCTYPE html>")


async def test_copy_is_inactive_and_owned_by_the_callers_organisation(as_user, world):
    api = await as_user("admin_a")
    copy = await copy_of(api, "CONFIRM_EMAIL")
    assert copy["name"] == "COPY OF System Default Confirm Email (en)"
    assert (copy["type"], copy["language"], copy["active"], copy["isSystem"]) == ("CONFIRM_EMAIL", "EN", False, False)
    assert copy["organisation"]["id"] == str(world.orgs["customer_a"].id)
    assert (await api.ok(LIST))["emailTemplates"]["totalCount"] == 21
    # the copy is listed right below its original, on one page and page by page
    second = await copy_of(api, "CONFIRM_EMAIL")
    original = await system_id("CONFIRM_EMAIL", "EN")
    names = [n["id"] for n in (await api.ok(LIST))["emailTemplates"]["nodes"]]
    assert names[names.index(original) : names.index(original) + 3] == [original, copy["id"], second["id"]]
    paged, after = [], None
    page = "query($a: String) { emailTemplates(first: 1, after: $a) { nodes { id } pageInfo { endCursor } } }"
    while len(paged) < 22:
        result = (await api.ok(page, {"a": after}))["emailTemplates"]
        if not result["nodes"]:
            break
        paged += [n["id"] for n in result["nodes"]]
        after = result["pageInfo"]["endCursor"]
    assert paged == names


async def test_activate_replaces_the_previous_active_copy(as_user, world):
    api = await as_user("admin_a")
    first, second = await copy_of(api), await copy_of(api)
    assert (await api.ok(ACTIVATE, {"id": first["id"]}))["activateEmailTemplate"]["active"] is True
    assert (await api.ok(ACTIVATE, {"id": second["id"]}))["activateEmailTemplate"]["active"] is True
    assert (await EmailTemplate.get(id=first["id"])).active is False
    # the system template stays active in the system scope
    assert (await EmailTemplate.get(id=await system_id("RESET_PASSWORD", "EN"))).active is True
    # activating the system template retires the organisation's copy
    await api.ok(ACTIVATE, {"id": await system_id("RESET_PASSWORD", "EN")})
    assert (await EmailTemplate.get(id=second["id"])).active is False


@pytest.mark.parametrize("who", ["admin_a", "platform_admin"])
async def test_system_templates_cannot_be_edited_or_deleted(as_user, world, who):
    api = await as_user(who)
    tid = await system_id("INVITE_USER", "EN")
    assert await api.code(UPDATE, {"id": tid, "input": {"name": "Mine"}}) == "TEMPLATE_IS_SYSTEM"
    assert await api.code(DELETE, {"id": tid}) == "TEMPLATE_IS_SYSTEM"
    assert (await EmailTemplate.get(id=tid)).name == "System Default Invite Email (en)"


async def test_edit_a_copy(as_user, world):
    api = await as_user("admin_a")
    copy = await copy_of(api)
    body = '<p>Hej {{ user_name }}, <a href="{{ action_link }}">klicka här</a>.</p><script>alert(1)</script>'
    changes = {"name": "Our reset", "language": "SV", "subject": "Nytt lösenord\n{{ user_name }}", "body": body}
    updated = (await api.ok(UPDATE, {"id": copy["id"], "input": changes}))["updateEmailTemplate"]
    assert updated["name"] == "Our reset" and updated["language"] == "SV"
    assert updated["subject"] == "Nytt lösenord {{ user_name }}"
    assert "<script" not in updated["body"] and 'href="{{ action_link }}"' in updated["body"]


@pytest.mark.parametrize(
    "body",
    [
        "<p>{{ ''.__class__.__mro__ }}</p>",
        "<p>{{ user_name.__class__ }}</p>",
        "{% import os %}",
        "<p>{{ settings }}</p>",
        "<p>{{ cycler.__init__.__globals__.os.popen('id').read() }}</p>",
        "<p>{% for x in range(10) %}x{% endfor %}</p>",
        "<p>{{ unknown_placeholder }}</p>",
        "<p>{% if %}</p>",
    ],
)
async def test_injection_and_broken_templates_are_refused(as_user, world, body):
    api = await as_user("admin_a")
    copy = await copy_of(api)
    error = await api.error(UPDATE, {"id": copy["id"], "input": {"body": body}})
    assert error["extensions"]["code"] == "TEMPLATE_INVALID"
    assert (await EmailTemplate.get(id=copy["id"])).body == (
        await EmailTemplate.get(id=await system_id("RESET_PASSWORD", "EN"))
    ).body


async def test_delete_a_copy(as_user, world):
    api = await as_user("admin_a")
    copy = await copy_of(api)
    assert (await api.ok(DELETE, {"id": copy["id"]}))["deleteEmailTemplate"] is True
    assert not await EmailTemplate.exists(id=copy["id"])


async def test_send_test_email_goes_through_the_outbox(as_user, world, smtp):
    api = await as_user("admin_a")
    tid = await system_id("INVITE_USER", "ES")
    assert (await api.ok(TEST_MAIL, {"id": tid, "to": "qa@integra.example"}))["sendTestEmail"] is True
    assert await OutboxMessage.filter(to="qa@integra.example", status="PENDING").count() == 1
    (mail,) = await deliver(smtp)
    assert mail["To"] == "qa@integra.example" and mail["Subject"] == "Su invitación a Meter KMS (IntegraDemo)"
    assert "Demo Integra" in text_of(mail)
    assert await api.code(TEST_MAIL, {"id": tid, "to": "not-an-address"}) == "BAD_USER_INPUT"
    assert await api.code(TEST_MAIL, {"id": tid, "to": "a@b.example\r\nBcc: x@y.example"}) == "BAD_USER_INPUT"


# --- which template a user receives --------------------------------------------------------------------------


async def test_an_activated_copy_is_what_the_organisations_users_receive_in_their_language(
    as_user, world, client, smtp
):
    # given: customer_a customises the German reset mail
    api = await as_user("admin_a")
    copy = await copy_of(api, "RESET_PASSWORD", "DE")
    body = '<p>Moin {{ user_name }}! Customer-A-Vorlage: <a href="{{ action_link }}">Link</a></p>'
    await api.ok(UPDATE, {"id": copy["id"], "input": {"subject": "Customer A: neues Passwort", "body": body}})
    await api.ok(ACTIVATE, {"id": copy["id"]})
    for key, language in (("keys_a", "DE"), ("admin_a_sub", "DE"), ("viewer_a", "EN"), ("keys_b", "DE")):
        await User.filter(id=world.users[key].id).update(language=language)
    # when each asks for a reset link
    for key in ("keys_a", "admin_a_sub", "viewer_a", "keys_b"):
        await client().ok(RESET, {"e": f"{key}@example.com"})
    await deliver(smtp)
    subjects = {
        key: mails_to(smtp, f"{key}@example.com")[0]["Subject"]
        for key in ("keys_a", "admin_a_sub", "viewer_a", "keys_b")
    }
    # then: the copy for German speakers of customer_a and below; the system text for everybody else
    assert subjects == {
        "keys_a": "Customer A: neues Passwort",
        "admin_a_sub": "Customer A: neues Passwort",
        "viewer_a": "Reset your Meter KMS password",
        "keys_b": "Passwort für Meter KMS zurücksetzen",
    }
    assert "Moin Keys A!" in text_of(mails_to(smtp, "keys_a@example.com")[0])


async def test_the_nearest_organisation_wins_and_an_inactive_copy_is_ignored(as_user, world, client, smtp):
    parent = await as_user("admin_a")
    child = await as_user("admin_a_sub")
    parent_copy = await copy_of(parent)
    await parent.ok(UPDATE, {"id": parent_copy["id"], "input": {"subject": "From A"}})
    await parent.ok(ACTIVATE, {"id": parent_copy["id"]})
    child_copy = await copy_of(child)
    await child.ok(UPDATE, {"id": child_copy["id"], "input": {"subject": "From A Sub"}})
    await client().ok(RESET, {"e": "admin_a_sub@example.com"})  # child copy not active yet: the parent's
    await deliver(smtp)  # rendered when the worker takes the request
    await child.ok(ACTIVATE, {"id": child_copy["id"]})
    await client().ok(RESET, {"e": "admin_a_sub@example.com"})
    await client().ok(RESET, {"e": "keys_a@example.com"})
    await deliver(smtp)
    assert [m["Subject"] for m in mails_to(smtp, "admin_a_sub@example.com")] == ["From A", "From A Sub"]
    assert [m["Subject"] for m in mails_to(smtp, "keys_a@example.com")] == ["From A"]


async def test_placeholder_values_cannot_inject_markup(as_user, world, client, smtp):
    await User.filter(id=world.users["keys_a"].id).update(name="<script>alert(1)</script>{{ 7*7 }}")
    await client().ok(RESET, {"e": "keys_a@example.com"})
    (mail,) = await deliver(smtp)
    assert "<script>" not in html_of(mail) and "&lt;script&gt;" in html_of(mail)
    assert "Hello <script>alert(1)</script>{{ 7*7 }}," in text_of(mail)  # shown as typed, not evaluated


# --- other organisations ---------------------------------------------------------------------------------------


async def test_other_organisations_copies_are_invisible_and_untouchable(as_user, world):
    # given a copy of customer_a
    copy = await copy_of(await as_user("admin_a"))
    other = await as_user("admin_b")
    # then admin_b sees only the system templates
    assert (await other.ok(LIST))["emailTemplates"]["totalCount"] == 20
    for operation, variables in [
        (GET, {"id": copy["id"]}),
        (COPY, {"id": copy["id"]}),
        (ACTIVATE, {"id": copy["id"]}),
        (UPDATE, {"id": copy["id"], "input": {"name": "Pwned"}}),
        (DELETE, {"id": copy["id"]}),
        (TEST_MAIL, {"id": copy["id"], "to": "mallory@example.com"}),
    ]:
        assert await other.code(operation, variables) == "NOT_FOUND", operation
    stored = await EmailTemplate.get(id=copy["id"])
    assert (stored.name, stored.active) == (copy["name"], False)
    assert await OutboxMessage.all().count() == 0
    # the partner organisation sees nothing of it either
    assert await (await as_user("partner_admin")).code(GET, {"id": copy["id"]}) == "NOT_FOUND"
    # a platform admin sees it
    assert (await (await as_user("platform_admin")).ok(LIST))["emailTemplates"]["totalCount"] == 21


@pytest.mark.parametrize("operation", [GET, COPY, ACTIVATE, DELETE])
async def test_key_managers_cannot_manage_templates(as_user, world, operation):
    tid = await system_id("RESET_PASSWORD", "EN")
    assert await (await as_user("keys_a")).code(operation, {"id": tid}) == "FORBIDDEN"


async def test_anonymous_callers_cannot_list_templates(client, world):
    assert await client().code(LIST) == "UNAUTHENTICATED"


async def test_a_subject_that_renders_too_long_is_cut_and_the_mail_still_goes(as_user, client, world, settings):
    from models.outbox import OutboxMessage

    # given: an active copy whose subject (under the 500-character limit) renders far longer
    api = await as_user("admin_a")
    copy = await copy_of(api)
    await api.ok(UPDATE, {"id": copy["id"], "input": {"subject": "{{ user_name }} " * 27}})
    await api.ok(ACTIVATE, {"id": copy["id"]})
    await User.filter(email="keys_a@example.com").update(name="N" * 200)  # a name may have 200 characters
    # when: a reset is requested for a user of that organisation
    assert (await client().ok(RESET, {"e": "keys_a@example.com"}))["requestPasswordReset"] is True
    assert await accounts.prepare_reset_mails(settings) == 1  # what the mail worker does first
    # then: the mail is queued with a subject cut to the limit
    [mail] = await OutboxMessage.filter(to="keys_a@example.com")
    assert len(mail.subject) <= 500 and mail.subject.endswith("…")
