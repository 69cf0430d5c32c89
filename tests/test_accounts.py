"""Accounts by mail: password reset links (single use, 1 h), PASSWORD_CHANGED after every change, and an
email change that takes effect when confirmed from the new address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mailtest import deliver, mails_to, running_smtp, text_of, token_in

from models.accounts import PasswordResetRequest
from models.audit import AuditEvent
from models.invites import AccountToken
from models.outbox import OutboxMessage
from models.users import User
from resolvers import accounts, ratelimit
from tests.conftest import PASSWORD

REQUEST = "mutation($e: String!) { requestPasswordReset(email: $e) }"
RESET = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }"
CONFIRM = "mutation($t: String!) { confirmEmail(token: $t) }"
CHANGE = """mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { id } }"""
SET_PASSWORD = "mutation($id: ID!, $p: String!) { setUserPassword(id: $id, newPassword: $p) { id } }"
UPDATE_USER = "mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id email } }"
NEW_PASSWORD = "Fresh-Start-2026!x"

smtp = pytest.fixture(running_smtp, name="smtp")


async def test_reset_link_works_once(client, world, smtp):
    # given a user with an open session
    old_session = client()
    await old_session.login("keys_a@example.com")
    # when a reset is requested and its link used
    assert (await client().ok(REQUEST, {"e": "Keys_A@example.com"}))["requestPasswordReset"] is True
    (mail,) = await deliver(smtp)
    assert mail["To"] == "keys_a@example.com" and mail["Subject"] == "Reset your Meter KMS password"
    token = token_in(mail, "reset-password")
    assert (await client().ok(RESET, {"t": token, "p": NEW_PASSWORD}))["resetPassword"] is True
    # then the new password works, the old one and the old session do not
    assert await client().login("keys_a@example.com", NEW_PASSWORD)
    assert (
        await client().code(
            'mutation($p: String!) { login(email: "keys_a@example.com", password: $p) { user { id } } }',
            {"p": PASSWORD},
        )
        == "INVALID_CREDENTIALS"
    )
    assert (await old_session.ok("{ me { id } }"))["me"] is None
    # and the link is used up
    assert await client().code(RESET, {"t": token, "p": "Another-Try-2026!x"}) == "TOKEN_INVALID"
    # a PASSWORD_CHANGED mail follows
    changed = [m for m in await deliver(smtp) if m["Subject"] == "Your Meter KMS password has been changed"]
    assert len(changed) == 1 and changed[0]["To"] == "keys_a@example.com"


async def test_reset_link_expires_after_an_hour(client, world, smtp):
    await client().ok(REQUEST, {"e": "keys_a@example.com"})
    (mail,) = await deliver(smtp)
    row = await AccountToken.get(user_id=world.users["keys_a"].id)
    assert timedelta(minutes=59) < row.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    await AccountToken.filter(id=row.id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await client().code(RESET, {"t": token_in(mail, "reset-password"), "p": NEW_PASSWORD}) == "TOKEN_INVALID"


async def test_unknown_addresses_get_the_same_answer_and_no_mail(client, world, smtp):
    for email in ("ghost@example.com", "", "not an email"):
        assert (await client().ok(REQUEST, {"e": email}))["requestPasswordReset"] is True
    assert await deliver(smtp) == []
    assert await OutboxMessage.all().count() == 0 and await PasswordResetRequest.all().count() == 0


async def test_asking_does_the_same_work_for_a_known_and_an_unknown_address(client, world, settings):
    """No lookup while the caller waits: a known address must not cost the answer a token, a mail and an
    audit record that an unknown one does not (its time would tell which addresses have accounts)."""
    tables = (AccountToken, OutboxMessage, AuditEvent, PasswordResetRequest)

    async def rows() -> list[int]:
        return [await table.all().count() for table in tables]

    before = await rows()
    await client().ok(REQUEST, {"e": "ghost@example.com"})
    after_unknown = await rows()
    await client().ok(REQUEST, {"e": "keys_a@example.com"})
    after_known = await rows()
    assert [b - a for a, b in zip(before, after_unknown, strict=True)] == [0, 0, 0, 1]
    assert [b - a for a, b in zip(after_unknown, after_known, strict=True)] == [0, 0, 0, 1]
    # the worker takes both requests off the queue and mails the known address only
    assert await accounts.prepare_reset_mails(settings) == 2
    assert [b - a for a, b in zip(after_known, await rows(), strict=True)] == [1, 1, 1, -2]


async def test_reset_mails_are_throttled_per_account(client, world, settings):
    for _ in range(8):
        assert (await client().ok(REQUEST, {"e": "keys_a@example.com"}))["requestPasswordReset"] is True
    await accounts.prepare_reset_mails(settings)
    assert await OutboxMessage.all().count() == 5


async def test_reset_requests_are_bounded_per_client_address(client, world, settings):
    for n in range(accounts.RESET_REQUESTS_PER_CLIENT + 5):
        assert (await client().ok(REQUEST, {"e": f"ghost{n}@example.com"}))["requestPasswordReset"] is True
    assert await PasswordResetRequest.all().count() == accounts.RESET_REQUESTS_PER_CLIENT


def test_requests_are_counted_per_ipv4_address_and_ipv6_network():
    network = ratelimit.client_network
    assert network("203.0.113.7") == "203.0.113.7"
    assert network("2001:db8:1:2:aaaa::1") == network("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert network("2001:db8:1:3::1") != network("2001:db8:1:2::1")
    assert network(None) == network("not an address") == "unknown"


async def test_a_request_the_worker_takes_after_an_hour_is_not_answered(client, world, settings, smtp):
    await client().ok(REQUEST, {"e": "keys_a@example.com"})
    await PasswordResetRequest.all().update(created_at=datetime.now(UTC) - timedelta(hours=1, seconds=1))
    assert await deliver(smtp) == []
    assert await PasswordResetRequest.all().count() == 0 and await AccountToken.all().count() == 0


async def test_a_weak_password_does_not_use_up_the_link(client, world, smtp):
    await client().ok(REQUEST, {"e": "keys_a@example.com"})
    (mail,) = await deliver(smtp)
    token = token_in(mail, "reset-password")
    assert await client().code(RESET, {"t": token, "p": "short"}) == "WEAK_PASSWORD"
    assert (await client().ok(RESET, {"t": token, "p": NEW_PASSWORD}))["resetPassword"] is True


async def test_one_used_reset_link_retires_the_others(client, world, smtp):
    await client().ok(REQUEST, {"e": "keys_a@example.com"})
    await client().ok(REQUEST, {"e": "keys_a@example.com"})
    first, second = await deliver(smtp)
    await client().ok(RESET, {"t": token_in(second, "reset-password"), "p": NEW_PASSWORD})
    assert await client().code(RESET, {"t": token_in(first, "reset-password"), "p": NEW_PASSWORD}) == "TOKEN_INVALID"


async def test_a_password_set_another_way_retires_open_reset_links(as_user, world, client, smtp):
    # given: a reset link sits in the mailbox (perhaps a compromised one)
    await client().ok(REQUEST, {"e": "keys_a@example.com"})
    (mail,) = await deliver(smtp)
    # when: an administrator sets a new password
    admin = await as_user("admin_a")
    await admin.ok(SET_PASSWORD, {"id": str(world.users["keys_a"].id), "p": NEW_PASSWORD})
    # then: the old link no longer overwrites it
    assert await client().code(RESET, {"t": token_in(mail, "reset-password"), "p": "Another-Try-2026!x"}) == (
        "TOKEN_INVALID"
    )
    assert await client().login("keys_a@example.com", NEW_PASSWORD)


async def test_every_password_change_is_mailed(as_user, world, smtp):
    # own change
    api = await as_user("keys_a")
    await api.ok(CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD})
    # an admin sets another user's password
    admin = await as_user("admin_a")
    await admin.ok(SET_PASSWORD, {"id": str(world.users["viewer_a"].id), "p": NEW_PASSWORD})
    await deliver(smtp)
    for who in ("keys_a", "viewer_a"):
        (mail,) = mails_to(smtp, f"{who}@example.com")
        assert mail["Subject"] == "Your Meter KMS password has been changed"


async def test_the_changed_mail_is_in_the_users_language(as_user, world, smtp):
    await User.filter(id=world.users["keys_a"].id).update(language="SV")
    await (await as_user("keys_a")).ok(CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD})
    (mail,) = await deliver(smtp)
    assert mail["Subject"] == "Ditt lösenord för Meter KMS har ändrats"


async def test_an_email_change_takes_effect_when_confirmed(as_user, world, client, smtp):
    # given
    admin = await as_user("admin_a")
    keys_id = str(world.users["keys_a"].id)
    # when the admin changes the address
    updated = (await admin.ok(UPDATE_USER, {"id": keys_id, "input": {"email": "Kim@New.example"}}))["updateUser"]
    # then the old address stays until the new one is confirmed
    assert updated["email"] == "keys_a@example.com"
    (mail,) = await deliver(smtp)
    assert mail["To"] == "kim@new.example"
    assert mail["Subject"] == "Confirm your email address for Meter KMS" and "Keys A" in text_of(mail)
    token = token_in(mail, "confirm-email")
    assert (await client().ok(CONFIRM, {"t": token}))["confirmEmail"] is True
    assert (await User.get(id=keys_id)).email == "kim@new.example"
    assert await client().code(CONFIRM, {"t": token}) == "TOKEN_INVALID"


async def test_only_the_last_email_change_can_be_confirmed_and_old_links_die_with_the_address(
    as_user, world, client, smtp
):
    # given: a reset link mailed to the current address, then a change to a mistyped address, then a fix
    await client().ok(REQUEST, {"e": "keys_a@example.com"})
    reset = token_in((await deliver(smtp))[0], "reset-password")
    admin = await as_user("admin_a")
    keys_id = str(world.users["keys_a"].id)
    for address in ("kim@typo.example", "kim@new.example"):
        await admin.ok(UPDATE_USER, {"id": keys_id, "input": {"email": address}})
    confirmations = {mail["To"]: mail for mail in await deliver(smtp) if mail["To"] != "keys_a@example.com"}
    typo, fixed = (token_in(confirmations[a], "confirm-email") for a in ("kim@typo.example", "kim@new.example"))
    # then: the mistyped address cannot take the account
    assert await client().code(CONFIRM, {"t": typo}) == "TOKEN_INVALID"
    assert (await client().ok(CONFIRM, {"t": fixed}))["confirmEmail"] is True
    assert (await User.get(id=keys_id)).email == "kim@new.example"
    # and the reset link mailed to the old address no longer works
    assert await client().code(RESET, {"t": reset, "p": NEW_PASSWORD}) == "TOKEN_INVALID"


async def test_a_confirmation_fails_when_the_address_was_taken_meanwhile(as_user, world, client, smtp):
    admin = await as_user("admin_a")
    await admin.ok(UPDATE_USER, {"id": str(world.users["keys_a"].id), "input": {"email": "shared@new.example"}})
    (mail,) = await deliver(smtp)
    await User.filter(id=world.users["viewer_a"].id).update(email="shared@new.example")
    assert await client().code(CONFIRM, {"t": token_in(mail, "confirm-email")}) == "EMAIL_TAKEN"
    assert (await User.get(id=world.users["keys_a"].id)).email == "keys_a@example.com"


async def test_tokens_only_work_for_their_purpose(client, world, smtp):
    await client().ok(REQUEST, {"e": "keys_a@example.com"})
    (mail,) = await deliver(smtp)
    reset_token = token_in(mail, "reset-password")
    assert await client().code(CONFIRM, {"t": reset_token}) == "TOKEN_INVALID"
    assert await client().code(RESET, {"t": "kms_rst_" + "A" * 43, "p": NEW_PASSWORD}) == "TOKEN_INVALID"


async def test_a_deactivated_user_cannot_reset(client, world, smtp):
    await User.filter(id=world.users["keys_a"].id).update(is_active=False)
    await client().ok(REQUEST, {"e": "keys_a@example.com"})
    assert await deliver(smtp) == []
    assert await OutboxMessage.all().count() == 0


CHANGE_EMAIL = "mutation($p: String!, $e: String!) { changeEmail(currentPassword: $p, newEmail: $e) { email } }"


async def test_a_user_changes_their_own_email_with_the_password_and_a_link_to_the_new_address(
    as_user, world, client, smtp
):
    # given: a key manager in the profile
    own = await as_user("keys_a")
    # when: the new address, with the password asked again
    changed = (await own.ok(CHANGE_EMAIL, {"p": PASSWORD, "e": " Kim@New.example "}))["changeEmail"]
    # then: nothing changes until the link mailed to the new address is used
    assert changed["email"] == "keys_a@example.com"
    (mail,) = await deliver(smtp)
    assert mail["To"] == "kim@new.example"
    assert (await client().ok(CONFIRM, {"t": token_in(mail, "confirm-email")}))["confirmEmail"] is True
    assert (await User.get(id=world.users["keys_a"].id)).email == "kim@new.example"


async def test_changing_ones_email_needs_the_password_counted_like_a_login(as_user, world):
    own = await as_user("viewer_a")
    for _ in range(5):
        assert await own.code(CHANGE_EMAIL, {"p": "Wrong-Password-1!", "e": "thief@evil.example"}) == (
            "INVALID_CREDENTIALS"
        )
    # the account's login counter is spent: even the right password is refused now
    assert await own.code(CHANGE_EMAIL, {"p": PASSWORD, "e": "thief@evil.example"}) == "ACCOUNT_LOCKED"
    assert not await AccountToken.filter(new_email="thief@evil.example").exists()


async def test_changing_ones_email_is_refused_to_tokens_and_for_taken_or_bad_addresses(as_user, world, client):
    own = await as_user("admin_a")
    taken = await own.error(CHANGE_EMAIL, {"p": PASSWORD, "e": "KEYS_B@example.com"})
    assert taken["extensions"] == {"code": "EMAIL_TAKEN", "field": "newEmail"}
    bad = await own.error(CHANGE_EMAIL, {"p": PASSWORD, "e": "a@b.example,c@d.example"})
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "newEmail"}
    same = await own.error(CHANGE_EMAIL, {"p": PASSWORD, "e": "admin_a@example.com"})
    assert same["extensions"] == {"code": "BAD_USER_INPUT", "field": "newEmail"}
    created = await own.ok('mutation { createApiToken(input: {name: "t", roles: [OTC_ADMIN]}) { token } }')
    bearer = client(headers={"Authorization": f"Bearer {created['createApiToken']['token']}"})
    assert await bearer.code(CHANGE_EMAIL, {"p": PASSWORD, "e": "kim@new.example"}) == "FORBIDDEN"
    assert not await AccountToken.filter(purpose="CONFIRM_EMAIL").exists()
