"""Invites (manual 9.4, 9.5): prepared with a signup link, sent through the outbox, accepted once,
cancelled or expired; roles and organisations at most the inviter's; other organisations' invites unseen."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from mailtest import deliver, html_of, running_smtp, text_of, token_in

from models.audit import AuditEvent
from models.invites import Invite
from models.users import User

NEW_PASSWORD = "Welcome-Aboard-2026!"
INVITE_FIELDS = """id name email state signupLink expiresAt roles language notice organisation { id }
  template { name language } preview { subject text html }"""
CREATE = f"""mutation($input: CreateInviteInput!) {{ createInvite(input: $input) {{ {INVITE_FIELDS} }} }}"""
SEND = f"mutation($id: ID!, $email: String) {{ sendInvite(id: $id, email: $email) {{ {INVITE_FIELDS} }} }}"
CANCEL = "mutation($id: ID!) { cancelInvite(id: $id) { id state } }"
UPDATE = f"""mutation($id: ID!, $input: UpdateInviteInput!) {{ updateInvite(id: $id, input: $input) {{ {INVITE_FIELDS} }} }}"""
INVITE = f"query($id: ID!) {{ invite(id: $id) {{ {INVITE_FIELDS} }} }}"
INVITES = "{ invites { totalCount nodes { id name state } } }"
INVITABLE = "{ invitableOrganisations { id name } }"
ACCEPT = """mutation($input: AcceptInviteInput!) { acceptInvite(input: $input) { id email name roles language
  organisation { id } } }"""

smtp = pytest.fixture(running_smtp, name="smtp")


def new_invite(world, org="customer_a_sub", **overrides) -> dict:
    return {
        "name": "Nawel Haddad",
        "email": "nawel@integra.example",
        "organisationId": str(world.orgs[org].id),
        "roles": ["KEY_MANAGER"],
        "language": "EN",
        **overrides,
    }


async def create(api, world, **overrides) -> dict:
    return (await api.ok(CREATE, {"input": new_invite(world, **overrides)}))["createInvite"]


def token_of(invite: dict) -> str:
    return invite["signupLink"].split("token=", 1)[1]


def accept_input(token: str, email="nawel@integra.example", password=NEW_PASSWORD, name=None) -> dict:
    return {"input": {"token": token, "email": email, "password": password, "name": name}}


async def test_create_prepares_an_invite_with_link_template_and_preview(as_user, world, settings):
    # given
    api = await as_user("admin_a")
    # when
    invite = await create(api, world)
    # then
    assert invite["state"] == "PREPARED" and invite["notice"] is None
    assert invite["organisation"]["id"] == str(world.orgs["customer_a_sub"].id)
    assert invite["roles"] == ["KEY_MANAGER"] and invite["language"] == "EN"
    assert invite["signupLink"].startswith(f"{settings.public_url}/signup?token=")
    assert invite["template"] == {"name": "System Default Invite Email (en)", "language": "EN"}
    assert invite["signupLink"] in invite["preview"]["text"]
    assert "Nawel Haddad" in invite["preview"]["text"] and "Customer A Sub" in invite["preview"]["subject"]
    expires = datetime.fromisoformat(invite["expiresAt"])
    expected = datetime.now(UTC) + timedelta(hours=settings.invite_ttl_hours)
    assert abs(expires - expected) < timedelta(minutes=1)


async def test_only_a_digest_of_the_token_is_stored_and_the_link_is_stable(as_user, world):
    api = await as_user("admin_a")
    invite = await create(api, world)
    token = token_of(invite)
    row = await Invite.get(id=invite["id"])
    assert row.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(await Invite.filter(id=invite["id"]).values())
    again = (await api.ok(INVITE, {"id": invite["id"]}))["invite"]
    assert again["signupLink"] == invite["signupLink"]
    assert token not in str(await AuditEvent.all().values_list("details", "target"))


async def test_an_invite_goes_out_and_its_link_is_accepted_once(as_user, world, client, smtp):
    # given
    api = await as_user("admin_a")
    invite = await create(api, world, email=None)
    # when
    sent = (await api.ok(SEND, {"id": invite["id"], "email": "Nawel@Integra.example"}))["sendInvite"]
    (mail,) = await deliver(smtp)
    # then
    assert sent["state"] == "SENT" and sent["email"] == "nawel@integra.example"
    assert sent["notice"].startswith("We sent an email to nawel@integra.example.")
    assert mail["To"] == "nawel@integra.example"
    assert mail["Subject"] == "Your invitation to Meter KMS (Customer A Sub)"
    assert "Admin A" in text_of(mail)  # the inviter
    token = token_in(mail, "signup")
    assert token == token_of(sent) != token_of(invite)  # the link goes with the address it was sent to
    # when the invitee accepts
    anonymous = client()
    user = (await anonymous.ok(ACCEPT, accept_input(token, name="Nawel H.")))["acceptInvite"]
    # then
    assert user["email"] == "nawel@integra.example" and user["name"] == "Nawel H."
    assert user["roles"] == ["KEY_MANAGER"] and user["organisation"]["id"] == str(world.orgs["customer_a_sub"].id)
    assert (await anonymous.login("nawel@integra.example", NEW_PASSWORD))["login"]["mustChangePassword"] is False
    assert (await api.ok(INVITE, {"id": invite["id"]}))["invite"]["state"] == "ACCEPTED"
    # and a second time the link is refused
    second = accept_input(token, email="someone.else@integra.example")
    assert await client().code(ACCEPT, second) == "TOKEN_INVALID"
    assert await User.filter(email="someone.else@integra.example").count() == 0


async def test_a_copied_link_works_without_sending(as_user, world, client):
    api = await as_user("admin_a")
    invite = await create(api, world, email=None)
    user = (await client().ok(ACCEPT, accept_input(token_of(invite), email="own@integra.example")))["acceptInvite"]
    assert user["name"] == "Nawel Haddad"  # the invite's name when none is given


async def test_accept_requires_the_invited_address_a_strong_password_and_a_free_email(as_user, world, client):
    api = await as_user("admin_a")
    token = token_of(await create(api, world))
    anonymous = client()
    assert (await anonymous.error(ACCEPT, accept_input(token, email="other@integra.example")))["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "email",
    }
    assert await anonymous.code(ACCEPT, accept_input(token, password="password")) == "WEAK_PASSWORD"
    # neither cost the invite its link
    assert (await anonymous.ok(ACCEPT, accept_input(token)))["acceptInvite"]["email"] == "nawel@integra.example"
    taken = await create(api, world, email=None)
    assert await anonymous.code(ACCEPT, accept_input(token_of(taken), email="keys_b@example.com")) == "EMAIL_TAKEN"


@pytest.mark.parametrize("token", ["", "nonsense", "A" * 43, "kms_rst_" + "B" * 43])
async def test_unknown_tokens_are_invalid(client, world, token):
    assert await client().code(ACCEPT, accept_input(token)) == "TOKEN_INVALID"


async def test_a_cancelled_invite_cannot_be_accepted_or_sent(as_user, world, client):
    api = await as_user("admin_a")
    invite = await create(api, world)
    assert (await api.ok(CANCEL, {"id": invite["id"]}))["cancelInvite"]["state"] == "CANCELLED"
    assert await client().code(ACCEPT, accept_input(token_of(invite))) == "TOKEN_INVALID"
    assert await api.code(SEND, {"id": invite["id"]}) == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "change",
    [{"roles": ["VIEWER"]}, {"roles": ["KEY_MANAGER"]}, {"is_active": False}, {"organisation": "customer_b"}],
    ids=["demoted", "no longer an admin", "deactivated", "moved elsewhere"],
)
async def test_an_invite_lapses_when_its_inviter_can_no_longer_grant_it(as_user, world, client, change):
    from models.users import User

    # given: an invite to an administrator role, made by an administrator of customer A
    api = await as_user("admin_a")
    invite = await create(api, world, roles=["OTC_ADMIN"])
    # when: the inviter loses the right to grant it
    updates = dict(change)
    if "roles" in updates:
        updates["roles"] = User.encode_roles(updates["roles"])
    if "organisation" in updates:
        updates["organisation_id"] = world.orgs[updates.pop("organisation")].id
    await User.filter(email="admin_a@example.com").update(**updates)
    # then: the link no longer makes a user
    assert await client().code(ACCEPT, accept_input(token_of(invite))) == "TOKEN_INVALID"
    assert not await User.exists(email="nawel@integra.example")


async def test_an_invite_whose_inviter_left_works_once_another_admin_sends_it(as_user, world, client, smtp):
    from models.users import User

    # given: an invite prepared by an administrator who is then deactivated
    invite = await create(await as_user("admin_a"), world, roles=["OTC_ADMIN"])
    await User.filter(email="admin_a@example.com").update(is_active=False)
    # when: the platform administrator sends it
    platform = await as_user("platform_admin")
    sent = (await platform.ok(SEND, {"id": invite["id"], "email": "nawel@integra.example"}))["sendInvite"]
    # then: the mailed link makes the user, under the sender's right to grant the role
    (mail,) = await deliver(smtp)
    accepted = (await client().ok(ACCEPT, accept_input(token_in(mail, "signup"))))["acceptInvite"]
    assert sent["state"] == "SENT" and accepted["roles"] == ["OTC_ADMIN"]


async def test_an_invite_from_an_inviter_who_keeps_the_right_is_accepted(as_user, world, client):
    from models.users import User

    api = await as_user("admin_a")
    invite = await create(api, world, roles=["KEY_MANAGER"])
    await User.filter(email="admin_a@example.com").update(name="Renamed")  # nothing that matters changes
    assert (await client().ok(ACCEPT, accept_input(token_of(invite))))["acceptInvite"]["roles"] == ["KEY_MANAGER"]


async def test_invites_expire(as_user, world, client):
    # given
    api = await as_user("admin_a")
    invite = await create(api, world)
    await api.ok(SEND, {"id": invite["id"]})
    # when the time is up
    await Invite.filter(id=invite["id"]).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    # then
    assert (await api.ok(INVITE, {"id": invite["id"]}))["invite"]["state"] == "EXPIRED"
    assert await client().code(ACCEPT, accept_input(token_of(invite))) == "TOKEN_INVALID"
    assert await api.code(SEND, {"id": invite["id"]}) == "BAD_USER_INPUT"


async def test_the_time_limit_starts_when_the_invite_is_sent(as_user, world, settings, smtp):
    # given: an invite prepared long ago, its time nearly up
    api = await as_user("admin_a")
    invite = await create(api, world)
    await Invite.filter(id=invite["id"]).update(expires_at=datetime.now(UTC) + timedelta(minutes=5))
    # when it is sent, and later sent again
    for _ in range(2):
        sent = (await api.ok(SEND, {"id": invite["id"]}))["sendInvite"]
        # then the invitee has the whole time limit from the mail on
        left = datetime.fromisoformat(sent["expiresAt"]) - datetime.now(UTC)
        assert timedelta(hours=settings.invite_ttl_hours) - timedelta(minutes=1) < left
        assert left <= timedelta(hours=settings.invite_ttl_hours)
        await Invite.filter(id=invite["id"]).update(expires_at=datetime.now(UTC) + timedelta(minutes=5))


async def test_sent_again_to_a_corrected_address_the_mistyped_link_stops_working(as_user, world, client, smtp):
    api = await as_user("admin_a")
    invite = await create(api, world, email="nawel@integra.exmaple")
    await api.ok(SEND, {"id": invite["id"]})
    await api.ok(SEND, {"id": invite["id"], "email": "nawel@integra.example"})
    mistyped, corrected = (await deliver(smtp))[:2]
    assert mistyped["To"] == "nawel@integra.exmaple" and corrected["To"] == "nawel@integra.example"
    assert await client().code(ACCEPT, accept_input(token_in(mistyped, "signup"))) == "TOKEN_INVALID"
    accepted = await client().ok(ACCEPT, accept_input(token_in(corrected, "signup")))
    assert accepted["acceptInvite"]["email"] == "nawel@integra.example"


async def test_a_prepared_invite_is_corrected_before_it_is_sent(as_user, world, client):
    # given: an invite prepared with a typo in the address, the wrong organisation and the wrong role
    api = await as_user("admin_a")
    invite = await create(api, world, email="nawel@integra.exmaple", org="customer_a")
    old_link = invite["signupLink"]
    # when
    changes = {
        "name": " Nawel Haddad-Berg ",
        "email": "Nawel@Integra.example",
        "organisationId": str(world.orgs["customer_a_sub"].id),
        "roles": ["VIEWER"],
        "language": "SV",
    }
    updated = (await api.ok(UPDATE, {"id": invite["id"], "input": changes}))["updateInvite"]
    # then: every field changed, the link follows the corrected address, and the change is audited
    assert (updated["name"], updated["email"], updated["roles"], updated["language"]) == (
        "Nawel Haddad-Berg",
        "nawel@integra.example",
        ["VIEWER"],
        "SV",
    )
    assert updated["organisation"]["id"] == str(world.orgs["customer_a_sub"].id)
    assert updated["state"] == "PREPARED" and updated["signupLink"] != old_link
    assert updated["template"]["language"] == "SV"
    # moved from customer A to its suborganisation: both logs show it, with the fields' names, not their values
    events = await AuditEvent.filter(action="invite.updated")
    assert {e.organisation_id for e in events} == {world.orgs["customer_a"].id, world.orgs["customer_a_sub"].id}
    assert all("exmaple" not in e.details and "Haddad" not in e.details for e in events)
    assert await client().code(ACCEPT, accept_input(old_link.split("token=", 1)[1])) == "TOKEN_INVALID"
    accepted = (await client().ok(ACCEPT, accept_input(token_of(updated))))["acceptInvite"]
    assert accepted["roles"] == ["VIEWER"] and accepted["organisation"]["id"] == str(world.orgs["customer_a_sub"].id)
    # and what is left out stays; an empty address removes it; nothing to change records nothing
    other = await create(api, world, email="second@integra.example")
    assert (await api.ok(UPDATE, {"id": other["id"], "input": {}}))["updateInvite"] == other
    assert await AuditEvent.filter(action="invite.updated").count() == 2
    kept = (await api.ok(UPDATE, {"id": other["id"], "input": {"email": ""}}))["updateInvite"]
    assert (kept["name"], kept["email"], kept["roles"]) == ("Nawel Haddad", None, ["KEY_MANAGER"])


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"roles": ["PLATFORM_ADMIN"]}, "FORBIDDEN", None),
        ({"roles": []}, "BAD_USER_INPUT", "roles"),
        ({"organisationId": "customer_b"}, "NOT_FOUND", None),
        ({"name": " "}, "BAD_USER_INPUT", "name"),
        ({"email": "not-an-address"}, "BAD_USER_INPUT", "email"),
        ({"email": "keys_a@example.com"}, "EMAIL_TAKEN", "email"),
    ],
)
async def test_an_invite_is_corrected_only_within_what_the_admin_may_do(as_user, world, changes, code, field):
    api = await as_user("admin_a")
    invite = await create(api, world)
    if "organisationId" in changes:
        changes = {"organisationId": str(world.orgs[changes["organisationId"]].id)}
    error = await api.error(UPDATE, {"id": invite["id"], "input": changes})
    assert error["extensions"]["code"] == code
    assert error["extensions"].get("field") == field
    assert (await api.ok(INVITE, {"id": invite["id"]}))["invite"] == invite
    assert not await AuditEvent.exists(action="invite.updated")


async def test_a_sent_or_cancelled_invite_is_not_changed(as_user, world, smtp):
    api = await as_user("admin_a")
    sent, cancelled = await create(api, world), await create(api, world, email="other@integra.example")
    await api.ok(SEND, {"id": sent["id"]})
    await api.ok(CANCEL, {"id": cancelled["id"]})
    for invite in (sent, cancelled):
        error = await api.error(UPDATE, {"id": invite["id"], "input": {"roles": ["VIEWER"]}})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
        assert error["message"].startswith("Only an invite that has not been sent can be changed")
        assert (await api.ok(INVITE, {"id": invite["id"]}))["invite"]["roles"] == ["KEY_MANAGER"]


async def test_send_needs_an_address(as_user, world):
    api = await as_user("admin_a")
    invite = await create(api, world, email=None)
    assert (await api.error(SEND, {"id": invite["id"]}))["extensions"] == {"code": "BAD_USER_INPUT", "field": "email"}


async def test_the_invite_is_written_in_its_language(as_user, world, smtp):
    api = await as_user("admin_a")
    invite = await create(api, world, language="DE")
    assert invite["template"]["name"] == "System Standard-Einladungs-E-Mail (de)"
    await api.ok(SEND, {"id": invite["id"]})
    (mail,) = await deliver(smtp)
    assert mail["Subject"] == "Ihre Einladung zu Meter KMS (Customer A Sub)"
    assert 'lang="de"' in html_of(mail)


async def test_markup_in_the_invitee_name_is_escaped_in_the_mail(as_user, world, smtp):
    api = await as_user("admin_a")
    invite = await create(api, world, name='<script>alert("x")</script><img src=x onerror=alert(1)>')
    await api.ok(SEND, {"id": invite["id"]})
    (mail,) = await deliver(smtp)
    html = html_of(mail)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


# --- who may invite whom ------------------------------------------------------------------------------------


async def test_roles_at_most_the_inviters_own(as_user, world):
    api = await as_user("admin_a")
    variables = {"input": new_invite(world, roles=["PLATFORM_ADMIN"])}
    assert await api.code(CREATE, variables) == "FORBIDDEN"
    assert await Invite.all().count() == 0


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin_a", {"customer_a", "customer_a_sub"}),
        ("admin_a_sub", {"customer_a_sub"}),
        ("platform_admin", {"platform", "customer_a", "customer_a_sub", "customer_b", "partner"}),
    ],
)
async def test_invitable_organisations(as_user, world, who, expected):
    found = (await (await as_user(who)).ok(INVITABLE))["invitableOrganisations"]
    names = {k for k, org in world.orgs.items() if str(org.id) in {o["id"] for o in found}}
    assert names == expected


@pytest.mark.parametrize("org", ["customer_b", "partner", "platform"])
async def test_no_invites_to_organisations_outside_the_subtree(as_user, world, org):
    api = await as_user("admin_a")
    assert await api.code(CREATE, {"input": new_invite(world, org=org)}) == "NOT_FOUND"


async def test_other_organisations_invites_are_not_found(as_user, world):
    # given an invite of customer_a
    invite = await create(await as_user("admin_a"), world, org="customer_a")
    other = await as_user("admin_b")
    # then admin_b neither sees nor touches it
    assert (await other.ok(INVITES))["invites"]["totalCount"] == 0
    for operation in (INVITE, SEND, CANCEL):
        assert await other.code(operation, {"id": invite["id"]}) == "NOT_FOUND"
    assert await other.code(UPDATE, {"id": invite["id"], "input": {"name": "Mine"}}) == "NOT_FOUND"
    # nor does an admin of the organisation below
    assert await (await as_user("admin_a_sub")).code(INVITE, {"id": invite["id"]}) == "NOT_FOUND"
    assert (await Invite.get(id=invite["id"])).state == "PREPARED"
    # while its own admin does
    assert (await (await as_user("admin_a")).ok(INVITES))["invites"]["totalCount"] == 1


async def test_an_invite_with_a_higher_role_is_hidden_from_lower_admins(as_user, world):
    platform = await as_user("platform_admin")
    invite = await create(platform, world, org="customer_a", roles=["PLATFORM_ADMIN"])
    admin = await as_user("admin_a")
    assert (await admin.ok(INVITES))["invites"]["totalCount"] == 0
    assert await admin.code(INVITE, {"id": invite["id"]}) == "NOT_FOUND"
    assert await admin.code(SEND, {"id": invite["id"]}) == "NOT_FOUND"


@pytest.mark.parametrize("operation", [INVITE, SEND, CANCEL])
async def test_key_managers_cannot_handle_invites(as_user, world, operation):
    invite = await create(await as_user("admin_a"), world)
    assert await (await as_user("keys_a")).code(operation, {"id": invite["id"]}) == "FORBIDDEN"


async def test_anonymous_callers_cannot_create_invites(client, world):
    assert await client().code(CREATE, {"input": new_invite(world)}) == "UNAUTHENTICATED"
    assert await client().code(INVITABLE) == "UNAUTHENTICATED"


async def test_an_invite_made_before_links_were_bound_to_the_address_keeps_its_link(as_user, world, client, settings):
    from resolvers import invites

    api = await as_user("admin_a")
    invite = await create(api, world)
    legacy = invites._legacy_token(settings, uuid.UUID(invite["id"]))
    await Invite.filter(id=invite["id"]).update(token_digest=invites.token_digest(legacy))
    assert token_of((await api.ok(INVITE, {"id": invite["id"]}))["invite"]) == legacy
    assert (await client().ok(ACCEPT, accept_input(legacy)))["acceptInvite"]["email"] == "nawel@integra.example"
