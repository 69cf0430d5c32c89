"""Log in, sessions, throttling, first-login password change, logout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.auth import Session
from tests.conftest import PASSWORD

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
        json={
            "query": LOGIN_AS % ("ADMIN_A@example.com", PASSWORD)
        },
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
        json={
            "query": LOGIN_AS % ("admin_a@example.com", PASSWORD)
        },
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
    wrong = await api.error(
        'mutation { login(email: "admin_a@example.com", password: "nope") { user { id } } }'
    )
    unknown = await api.error(
        'mutation { login(email: "ghost@example.com", password: "nope") { user { id } } }'
    )
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


async def test_client_address_is_throttled_across_accounts(client, world, settings):
    api = client()
    for i in range(settings.login_address_limit):
        await api.code(LOGIN_AS % (f"u{i}@example.com", "wrong"))
    error = await api.error(
        f'mutation {{ login(email: "admin_a@example.com", password: "{PASSWORD}") {{ user {{ id }} }} }}'
    )
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfter"] > 0


async def test_first_login_requires_a_password_change(client, world):
    # given
    user = await world.user("newbie", "customer_a", ["OTC_ADMIN"], must_change=True)
    api = client()
    assert (await api.login(user.email))["login"]["mustChangePassword"] is True
    # when / then: everything else is refused until the change
    assert await api.code(USERS) == "PASSWORD_CHANGE_REQUIRED"
    assert await api.code(CHANGE, {"c": PASSWORD, "n": "short"}) == "WEAK_PASSWORD"
    assert (await api.ok(CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD}))["changePassword"] == {
        "mustChangePassword": False
    }
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
    await Session.all().update(
        last_seen_at=datetime.now(UTC) - timedelta(seconds=settings.session_idle_seconds + 1)
    )
    assert (await api.ok(ME))["me"] is None


async def test_session_expires_after_the_absolute_limit_even_when_active(client, world):
    api = client()
    await api.login("admin_a@example.com")
    await Session.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert (await api.ok(ME))["me"] is None


async def test_deactivated_user_loses_the_session_and_cannot_log_in(client, world):
    api = client()
    await api.login("keys_a@example.com")
    world.users["keys_a"].is_active = False
    await world.users["keys_a"].save()
    assert (await api.ok(ME))["me"] is None
    assert (
        await api.code(
            f'mutation {{ login(email: "keys_a@example.com", password: "{PASSWORD}") {{ user {{ id }} }} }}'
        )
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
        assert response.status_code in (400, 415)
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
    await api.code(
        'mutation { login(email: "admin_a@example.com", password: "Wrong-Guess-1!") { user { id } } }'
    )
    await api.login("admin_a@example.com")
    await api.ok("mutation { logout }")
    actions = [e.action for e in await AuditEvent.all().order_by("seq")]
    assert actions == ["login.failed", "login.succeeded", "logout"]
    for event in await AuditEvent.all():
        assert "Wrong-Guess" not in event.details and PASSWORD not in event.details
