"""Log in, sessions, throttling, first-login password change, logout."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.expressions import F

from crypto import totp
from crypto.passwords import verify_password as passwords_verify
from crypto.secret import SecretBytes
from models.audit import AuditEvent
from models.auth import RateLimit, Session
from models.users import User
from resolvers.errors import KmsError
from tests.conftest import PASSWORD, TEST_DB

ME = "{ me { email mustChangePassword } }"
USERS = "{ users { totalCount } }"
CHANGE = """mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) {
  mustChangePassword } }"""
NEW_PASSWORD = "Brand-New-Pass-77#"
LOGIN_AS = 'mutation { login(email: "%s", password: "%s") { user { email } } }'


async def test_login_sets_a_strict_httponly_session_cookie(client, world):
    # given
    api = client()
    # when
    response = await api.http.post(
        "/graphql",
        json={"query": LOGIN_AS % ("ADMIN_A@example.com", PASSWORD)},
    )
    # then
    assert response.json()["data"]["login"]["user"]["email"] == "admin_a@example.com"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("kms_session=kms_s_")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert (await api.ok(ME))["me"]["email"] == "admin_a@example.com"


async def test_cookie_is_secure_over_https(client, world):
    api = client(base_url="https://testserver")
    response = await api.http.post(
        "/graphql",
        json={"query": LOGIN_AS % ("admin_a@example.com", PASSWORD)},
    )
    assert "Secure" in response.headers["set-cookie"]


async def test_each_login_gets_a_new_session_id(client, world):
    api = client()
    await api.login("admin_a@example.com")
    first = api.http.cookies["kms_session"]
    await api.login("admin_a@example.com")
    assert api.http.cookies["kms_session"] != first
    assert await Session.filter(user_id=world.users["admin_a"].id).count() == 2


async def test_wrong_password_and_unknown_email_answer_alike(client, world):
    api = client()
    wrong = await api.error('mutation { login(email: "admin_a@example.com", password: "nope") { user { id } } }')
    unknown = await api.error('mutation { login(email: "ghost@example.com", password: "nope") { user { id } } }')
    assert wrong["extensions"] == unknown["extensions"] == {"code": "INVALID_CREDENTIALS"}
    assert wrong["message"] == unknown["message"]


async def test_account_locks_after_repeated_failures_even_for_unknown_emails(client, world, settings):
    api = client()
    for email in ("admin_a@example.com", "ghost@example.com"):
        query = f'mutation {{ login(email: "{email}", password: "wrong") {{ user {{ id }} }} }}'
        for _ in range(settings.login_account_limit):
            assert await api.code(query) == "INVALID_CREDENTIALS"
        locked = await api.error(query)
        assert locked["extensions"]["code"] == "ACCOUNT_LOCKED"
        assert 0 < locked["extensions"]["retryAfter"] <= settings.login_window_seconds
    # the right password does not get through a lock either
    assert (
        await api.error(
            f'mutation {{ login(email: "admin_a@example.com", password: "{PASSWORD}") {{ user {{ id }} }} }}'
        )
    )["extensions"]["code"] == "ACCOUNT_LOCKED"


async def test_a_password_asked_again_is_counted_like_a_login(as_user, client, world, settings):
    # given: a signed-in session (stolen, say) guessing the password through changePassword
    api = await as_user("keys_a")
    for _ in range(settings.login_account_limit):
        assert await api.code(CHANGE, {"c": "Guess-1234567!", "n": NEW_PASSWORD}) == "INVALID_CREDENTIALS"
    # then: the account is locked there and at the login, even for the right password
    locked = await api.error(CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD})
    assert locked["extensions"]["code"] == "ACCOUNT_LOCKED"
    assert await client().code(LOGIN_AS % ("keys_a@example.com", PASSWORD)) == "ACCOUNT_LOCKED"
    assert await api.code(START_OTP, {"p": PASSWORD}) == "ACCOUNT_LOCKED"
    assert await AuditEvent.filter(action="login.failed").count() == settings.login_account_limit
    # and the password did not change
    user = await User.get(email="keys_a@example.com")
    assert await passwords_verify(PASSWORD, user.password_hash)


async def test_a_right_password_asked_again_does_not_count(as_user, settings):
    api = await as_user("keys_a")
    for _ in range(settings.login_account_limit + 2):
        await api.ok(START_OTP, {"p": PASSWORD})


async def test_an_api_token_cannot_change_its_creators_password(as_user, client):
    admin = await as_user("admin_a")
    created = await admin.ok('mutation { createApiToken(input: {name: "ci", roles: [VIEWER]}) { token } }')
    api = client(headers={"Authorization": f"Bearer {created['createApiToken']['token']}"})
    assert await api.code(CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD}) == "FORBIDDEN"


async def test_a_lock_lifts_when_its_window_ends_and_a_login_starts_the_count_again(client, world, settings):
    api = client()
    wrong = 'mutation { login(email: "admin_a@example.com", password: "wrong") { user { id } } }'
    right = f'mutation {{ login(email: "admin_a@example.com", password: "{PASSWORD}") {{ user {{ id }} }} }}'
    # given: a locked account
    for _ in range(settings.login_account_limit):
        await api.code(wrong)
    assert await api.code(right) == "ACCOUNT_LOCKED"
    # when: its window has ended (every counter started a window ago)
    await RateLimit.all().update(window_start=F("window_start") - settings.login_window_seconds)
    # then: the right password gets in, and each login forgets the failures before it
    assert (await api.ok(right))["login"]["user"]["id"]
    for _ in range(2):
        for _ in range(settings.login_account_limit - 1):
            assert await api.code(wrong) == "INVALID_CREDENTIALS"
        assert (await api.ok(right))["login"]["user"]["id"]


async def test_parallel_logins_cannot_pass_the_lock_together(client, world, settings):
    api = client()
    query = 'mutation { login(email: "admin_a@example.com", password: "wrong") { user { id } } }'
    codes = await asyncio.gather(*(api.code(query) for _ in range(settings.login_account_limit + 6)))
    assert codes.count("INVALID_CREDENTIALS") == settings.login_account_limit
    assert codes.count("ACCOUNT_LOCKED") == 6


async def test_a_second_factor_asked_for_is_not_a_failed_login(as_user, client, world, settings):
    await enable_otp(await as_user("keys_a"))
    api = client()
    for _ in range(settings.login_account_limit + 1):  # asking for the code is not a failure
        assert await api.code(LOGIN_AS % ("keys_a@example.com", PASSWORD)) == "OTP_REQUIRED"


async def test_client_address_is_throttled_across_accounts(client, world, settings):
    api = client()
    for i in range(settings.login_address_limit):
        await api.code(LOGIN_AS % (f"u{i}@example.com", "wrong"))
    error = await api.error(
        f'mutation {{ login(email: "admin_a@example.com", password: "{PASSWORD}") {{ user {{ id }} }} }}'
    )
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfter"] > 0


async def test_login_attempts_from_one_ipv6_network_share_its_limit(world, settings):
    """Each address of an IPv6 /64 is the same subscriber: counting per address would limit nobody."""
    from resolvers import auth

    policy = auth.policy_from(settings)
    for i in range(settings.login_address_limit):
        with pytest.raises(KmsError):
            await auth.login(f"u{i}@example.com", "wrong", policy, f"2001:db8:5:7::{i + 1:x}")
    with pytest.raises(KmsError) as refused:
        await auth.login("admin_a@example.com", PASSWORD, policy, "2001:db8:5:7:ffff::1")
    assert refused.value.code == "RATE_LIMITED"
    # another network is not affected
    user, _cookie = await auth.login("admin_a@example.com", PASSWORD, policy, "2001:db8:5:8::1")
    assert user.email == "admin_a@example.com"


async def test_first_login_requires_a_password_change(client, world):
    # given
    user = await world.user("newbie", "customer_a", ["OTC_ADMIN"], must_change=True)
    api = client()
    assert (await api.login(user.email))["login"]["mustChangePassword"] is True
    # when / then: everything else is refused until the change
    assert await api.code(USERS) == "PASSWORD_CHANGE_REQUIRED"
    assert await api.code(CHANGE, {"c": PASSWORD, "n": "short"}) == "WEAK_PASSWORD"
    assert (await api.ok(CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD}))["changePassword"] == {"mustChangePassword": False}
    assert (await api.ok(USERS))["users"]["totalCount"] >= 1


async def test_password_change_ends_other_sessions_and_keeps_this_one(client, world):
    laptop, phone = client(), client()
    await laptop.login("admin_a@example.com")
    await phone.login("admin_a@example.com")
    await laptop.ok(CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD})
    assert (await laptop.ok(ME))["me"]["email"] == "admin_a@example.com"
    assert (await phone.ok(ME))["me"] is None
    assert (
        await client().code(
            f'mutation {{ login(email: "admin_a@example.com", password: "{PASSWORD}") {{ user {{ id }} }} }}'
        )
        == "INVALID_CREDENTIALS"
    )
    await client().login("admin_a@example.com", NEW_PASSWORD)


async def test_wrong_current_password_is_refused(client, world):
    api = client()
    await api.login("admin_a@example.com")
    assert await api.code(CHANGE, {"c": "not-it", "n": NEW_PASSWORD}) == "INVALID_CREDENTIALS"


async def test_logout_revokes_the_session(client, world):
    api = client()
    await api.login("admin_a@example.com")
    stolen = api.http.cookies["kms_session"]
    assert (await api.ok("mutation { logout }"))["logout"] is True
    thief = client()
    thief.http.cookies.set("kms_session", stolen)
    assert (await thief.ok(ME))["me"] is None
    assert await thief.code(USERS) == "UNAUTHENTICATED"


async def test_idle_session_expires(client, world, settings):
    api = client()
    await api.login("admin_a@example.com")
    await Session.all().update(last_seen_at=datetime.now(UTC) - timedelta(seconds=settings.session_idle_seconds + 1))
    assert (await api.ok(ME))["me"] is None


async def test_session_expires_after_the_absolute_limit_even_when_active(client, world):
    api = client()
    await api.login("admin_a@example.com")
    await Session.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert (await api.ok(ME))["me"] is None


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite serves one host, whose clock is the database's")
async def test_hosts_whose_clocks_run_ahead_agree_on_sessions_and_download_links(as_user, client, world, monkeypatch):
    """Session and download-link limits are checked against the database's clock: a host whose own clock runs
    an hour ahead neither ends a live session (for every host: it deletes it) nor refuses a fresh link."""
    from resolvers import auth
    from resolvers.keys import download
    from tests.test_keys import RELEASE, setup_catalog

    ids = await setup_catalog(as_user, world)
    api = client()
    await api.login("keys_a@example.com")
    sessions = await Session.all().count()
    ahead = datetime.now(UTC) + timedelta(hours=1)

    class Ahead(datetime):
        @classmethod
        def now(cls, tz=None):
            return ahead

    # when: this host's clock runs an hour ahead of the others' and the database's
    monkeypatch.setattr(auth, "_now", lambda: ahead)
    monkeypatch.setattr(download, "datetime", Ahead, raising=False)
    # then: the session lives on (and stays in the table for the other hosts)
    assert (await api.ok(ME))["me"]["email"] == "keys_a@example.com"
    assert await Session.all().count() == sessions
    # and a link released a moment ago (its 300 s by the database's clock) still downloads
    release = (await api.ok(RELEASE, {"in": {"deviceIds": [ids["A-LORA"]]}}))["releaseKeys"]
    assert (await api.http.get("/downloads/" + release["downloadUrl"].rsplit("/", 1)[1])).status_code == 200


async def test_deactivated_user_loses_the_session_and_cannot_log_in(client, world):
    api = client()
    await api.login("keys_a@example.com")
    world.users["keys_a"].is_active = False
    await world.users["keys_a"].save()
    assert (await api.ok(ME))["me"] is None
    assert (
        await api.code(f'mutation {{ login(email: "keys_a@example.com", password: "{PASSWORD}") {{ user {{ id }} }} }}')
        == "INVALID_CREDENTIALS"
    )


async def test_mutations_are_refused_over_get(client, world):
    api = client()
    response = await api.http.get("/graphql", params={"query": "mutation { logout }"})
    assert response.status_code in (400, 405)
    assert (await api.http.get("/graphql", params={"query": "{ me { id } }"})).status_code == 200


async def test_form_and_text_posts_are_refused(client, world):
    api = client()
    await api.login("admin_a@example.com")
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = await api.http.post(
            "/graphql", content='{"query": "mutation { logout }"}', headers={"content-type": content_type}
        )
        assert response.status_code == 403  # refused before strawberry: no CSRF header
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.ok(ME))["me"] is not None


async def test_multipart_needs_the_csrf_header(client, world):
    api = client()
    await api.login("admin_a@example.com")
    files = {"operations": (None, '{"query": "mutation { logout }", "variables": {}}'), "map": (None, "{}")}
    refused = await api.http.post("/graphql", files=files)
    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    accepted = await api.http.post("/graphql", files=files, headers={"X-KMS-CSRF": "1"})
    assert accepted.status_code == 200 and accepted.json()["data"] == {"logout": True}


async def test_login_and_logout_are_audited_without_secrets(client, world):
    from models.audit import AuditEvent

    api = client()
    await api.code('mutation { login(email: "admin_a@example.com", password: "Wrong-Guess-1!") { user { id } } }')
    await api.login("admin_a@example.com")
    await api.ok("mutation { logout }")
    actions = [e.action for e in await AuditEvent.all().order_by("seq")]
    assert actions == ["login.failed", "login.succeeded", "logout"]
    for event in await AuditEvent.all():
        assert "Wrong-Guess" not in event.details and PASSWORD not in event.details


# --- second factor (TOTP) ------------------------------------------------------------------------

START_OTP = "mutation($p: String!) { startOtpSetup(password: $p) { secret uri } }"
CONFIRM_OTP = "mutation($c: String!) { confirmOtpSetup(code: $c) { otpEnabled } }"
DISABLE_OTP = "mutation($p: String!, $c: String!) { disableOtp(password: $p, code: $c) { otpEnabled } }"
RESET_OTP = "mutation($id: ID!) { resetUserOtp(id: $id) { otpEnabled } }"
LOGIN_OTP = (
    "mutation($e: String!, $p: String!, $o: String) { login(email: $e, password: $p, otp: $o) { user { email } } }"
)


def otp_code(secret: str, step: int | None = None) -> str:
    """What the user's authenticator app shows: now, or at ``step``."""
    raw = SecretBytes(base64.b32decode(secret + "=" * (-len(secret) % 8)))
    return totp.code_at(raw, time.time() if step is None else step * totp.STEP_SECONDS)


async def used_step(user_id) -> int:
    """The step of the last accepted code. Tests build the used and the next code from it, so a 30-second
    boundary passing during a test changes nothing."""
    step = (await User.get(id=user_id)).otp_last_step
    assert step is not None
    return step


def wrong_code(secret: str) -> str:
    """A code that no step in the accepted window has."""
    now = totp.step_of(time.time())
    valid = {otp_code(secret, step) for step in range(now - 2, now + 3)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


async def enable_otp(api) -> str:
    """Set up and confirm a second factor for the logged-in user; returns the base32 secret."""
    setup = (await api.ok(START_OTP, {"p": PASSWORD}))["startOtpSetup"]
    assert (await api.ok(CONFIRM_OTP, {"c": otp_code(setup["secret"])}))["confirmOtpSetup"] == {"otpEnabled": True}
    return setup["secret"]


async def test_otp_setup_asks_for_the_password_and_takes_effect_only_when_confirmed(as_user, client, world):
    keys = await as_user("keys_a")
    assert await keys.code(START_OTP, {"p": "wrong"}) == "INVALID_CREDENTIALS"
    setup = (await keys.ok(START_OTP, {"p": PASSWORD}))["startOtpSetup"]
    assert setup["uri"].startswith("otpauth://totp/Meter%20KMS:keys_a%40example.com?")
    assert f"secret={setup['secret']}" in setup["uri"]
    # stored sealed, not as the secret
    stored = await User.get(id=world.users["keys_a"].id)
    assert stored.otp_secret and base64.b32decode(setup["secret"]) not in bytes(stored.otp_secret)
    # not confirmed yet: logging in needs no code
    await client().login("keys_a@example.com")
    assert await keys.code(CONFIRM_OTP, {"c": wrong_code(setup["secret"])}) == "OTP_INVALID"
    assert (await keys.ok(CONFIRM_OTP, {"c": otp_code(setup["secret"])}))["confirmOtpSetup"]["otpEnabled"] is True
    assert await keys.code(START_OTP, {"p": PASSWORD}) == "CONFLICT"  # turn it off first
    assert await AuditEvent.filter(action="otp.enabled", target=f"user:{world.users['keys_a'].id}").count() == 1


async def test_login_with_a_second_factor_needs_a_fresh_code(as_user, client, world):
    secret = await enable_otp(await as_user("keys_a"))
    used = await used_step(world.users["keys_a"].id)
    email = "keys_a@example.com"
    api = client()
    # without a code: OTP_REQUIRED and no session
    assert await api.code(LOGIN_OTP, {"e": email, "p": PASSWORD}) == "OTP_REQUIRED"
    assert "kms_session" not in api.http.cookies
    # a wrong password still says only that
    assert (
        await api.code(LOGIN_OTP, {"e": email, "p": "wrong", "o": otp_code(secret, used + 1)}) == "INVALID_CREDENTIALS"
    )
    # the confirming code was used; the app's next code works once
    assert await api.code(LOGIN_OTP, {"e": email, "p": PASSWORD, "o": otp_code(secret, used)}) == "OTP_INVALID"
    next_code = otp_code(secret, used + 1)
    assert (await api.ok(LOGIN_OTP, {"e": email, "p": PASSWORD, "o": next_code}))["login"]["user"]["email"] == email
    assert (await api.ok(ME))["me"]["email"] == email
    assert await client().code(LOGIN_OTP, {"e": email, "p": PASSWORD, "o": next_code}) == "OTP_INVALID"  # replayed
    events = await AuditEvent.filter(action="login.failed", target=f"user:{world.users['keys_a'].id}")
    assert [json.loads(e.details) for e in events].count({"reason": "otp"}) == 2
    assert all(secret not in e.details for e in events)


async def test_wrong_codes_lock_the_account_like_wrong_passwords(as_user, client, world, settings):
    secret = await enable_otp(await as_user("keys_a"))
    wrong = wrong_code(secret)
    for _ in range(settings.login_account_limit):
        api = client()
        assert await api.code(LOGIN_OTP, {"e": "keys_a@example.com", "p": PASSWORD, "o": wrong}) == "OTP_INVALID"
    locked = {
        "e": "keys_a@example.com",
        "p": PASSWORD,
        "o": otp_code(secret, await used_step(world.users["keys_a"].id) + 1),
    }
    assert await client().code(LOGIN_OTP, locked) == "ACCOUNT_LOCKED"


async def test_turning_the_second_factor_off_needs_password_and_code(as_user, client, world):
    keys = await as_user("keys_a")
    secret = await enable_otp(keys)
    used = await used_step(world.users["keys_a"].id)
    assert await keys.code(DISABLE_OTP, {"p": "wrong", "c": otp_code(secret, used + 1)}) == "INVALID_CREDENTIALS"
    assert await keys.code(DISABLE_OTP, {"p": PASSWORD, "c": otp_code(secret, used)}) == "OTP_INVALID"  # used already
    disabled = await keys.ok(DISABLE_OTP, {"p": PASSWORD, "c": otp_code(secret, used + 1)})
    assert disabled["disableOtp"]["otpEnabled"] is False
    await client().login("keys_a@example.com")  # no code needed any more
    assert (await User.get(id=world.users["keys_a"].id)).otp_secret is None


async def test_an_admin_resets_a_lost_second_factor_within_their_organisations_only(as_user, client, world):
    await enable_otp(await as_user("keys_a"))
    keys_id, admin_b_id = str(world.users["keys_a"].id), str(world.users["admin_b"].id)
    assert await (await as_user("viewer_a")).code(RESET_OTP, {"id": keys_id}) == "FORBIDDEN"
    assert await (await as_user("admin_b")).code(RESET_OTP, {"id": keys_id}) == "NOT_FOUND"
    admin_a = await as_user("admin_a")
    own = str(world.users["admin_a"].id)
    for me in (own, own.upper()):  # the ID however the caller spells it
        assert await admin_a.code(RESET_OTP, {"id": me}) == "BAD_USER_INPUT"
    assert await admin_a.code(RESET_OTP, {"id": admin_b_id}) == "NOT_FOUND"
    assert (await admin_a.ok(RESET_OTP, {"id": keys_id}))["resetUserOtp"]["otpEnabled"] is False
    await client().login("keys_a@example.com")
    assert await AuditEvent.filter(action="otp.reset", target=f"user:{keys_id}").count() == 1
    assert (await User.get(id=keys_id)).otp_secret is None


async def test_api_tokens_cannot_manage_a_second_factor(as_user, client):
    admin = await as_user("admin_a")
    token = (await admin.ok('mutation { createApiToken(input: {name: "ci", roles: [VIEWER]}) { token } }'))[
        "createApiToken"
    ]["token"]
    api = client(headers={"Authorization": f"Bearer {token}"})
    assert await api.code(START_OTP, {"p": PASSWORD}) == "FORBIDDEN"
