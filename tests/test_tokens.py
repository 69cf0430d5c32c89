"""API tokens: shown once, stored as a digest, bearer authentication, roles, expiry, revocation, scope."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from tortoise import connections

from models.audit import AuditEvent
from models.invites import AccountToken
from models.tokens import ApiToken

CREATE = """mutation($name: String!, $roles: [Role!]!, $exp: DateTime) {
  createApiToken(input: {name: $name, roles: $roles, expiresAt: $exp}) {
    token apiToken { id name prefix roles revoked expiresAt lastUsedAt organisation { id } } } }"""
REVOKE = "mutation($id: ID!) { revokeApiToken(id: $id) { id revoked } }"
LIST = "{ apiTokens { id name prefix roles revoked lastUsedAt organisation { id } } }"
ME = "{ me { email } }"
USERS = "{ users { totalCount } }"


async def create(api, name="script", roles=("KEY_MANAGER",), expires_at=None) -> dict:
    data = await api.ok(CREATE, {"name": name, "roles": list(roles), "exp": expires_at})
    return data["createApiToken"]


def bearer(client, token: str):
    return client(headers={"Authorization": f"Bearer {token}"})


async def test_secret_is_shown_once_and_only_its_digest_is_stored(as_user):
    # given
    api = await as_user("admin_a")
    # when
    created = await create(api, "billing export", ["OTC_ADMIN"])
    # then
    secret, token = created["token"], created["apiToken"]
    assert secret.startswith("kms_pat_") and len(secret) > 40
    assert secret.startswith(token["prefix"]) and len(token["prefix"]) < len(secret) - 30
    assert token["roles"] == ["OTC_ADMIN"] and token["revoked"] is False and token["lastUsedAt"] is None
    listed = (await api.ok(LIST))["apiTokens"]
    assert [t["id"] for t in listed] == [token["id"]]
    assert secret not in str(listed)
    rows = await connections.get("default").execute_query_dict("SELECT * FROM api_tokens")
    assert len(rows) == 1
    assert rows[0]["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in rows[0].values())
    assert all(secret not in e.details for e in await AuditEvent.all())


async def test_bearer_token_authenticates_without_a_cookie(as_user, client, world):
    # given
    created = await create(await as_user("admin_a"), roles=["OTC_ADMIN"])
    api = bearer(client, created["token"])
    # when
    me = await api.ok(ME)
    users = await api.ok(USERS)
    # then
    assert not api.http.cookies
    assert me["me"]["email"] == "admin_a@example.com"
    assert users["users"]["totalCount"] == 4  # customer_a and customer_a_sub


async def test_a_token_cannot_make_another_token(as_user, client):
    # given: a token that may do everything its creator may, expiring soon
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    created = await create(await as_user("admin_a"), roles=["OTC_ADMIN"], expires_at=soon)
    api = bearer(client, created["token"])
    # when: it asks for a token without an expiry
    error = await api.error(CREATE, {"name": "forever", "roles": ["OTC_ADMIN"], "exp": None})
    # then: refused, and the only token is the first one
    assert error["extensions"]["code"] == "FORBIDDEN" and "signed-in user" in error["message"]
    assert await ApiToken.all().count() == 1


UPDATE_EMAIL = "mutation($id: ID!, $e: String!) { updateUser(id: $id, input: {email: $e}) { id } }"
SET_PASSWORD = "mutation($id: ID!, $p: String!) { setUserPassword(id: $id, newPassword: $p) { id } }"
RESET_OTP = "mutation($id: ID!) { resetUserOtp(id: $id) { id } }"


async def test_a_token_cannot_hand_an_account_to_its_holder(as_user, client, world):
    """An address the holder picks (confirmed, then a reset link), a password it sets, a second factor it
    removes: each would give the holder an account that outlives the token's expiry and revocation."""
    # given: an administrator's token with the administrator's own role
    admin = await as_user("admin_a")
    api = bearer(client, (await create(admin, roles=["OTC_ADMIN"]))["token"])
    creator, colleague = str(world.users["admin_a"].id), str(world.users["keys_a"].id)
    # when / then: refused for the creator and for any other user of its organisation
    for user_id in (creator, colleague):
        error = await api.error(UPDATE_EMAIL, {"id": user_id, "e": "attacker@evil.example"})
        assert error["extensions"]["code"] == "FORBIDDEN" and "API token" in error["message"]
    assert await api.code(SET_PASSWORD, {"id": colleague, "p": "Taken-Over-2026!x"}) == "FORBIDDEN"
    assert await api.code(RESET_OTP, {"id": colleague}) == "FORBIDDEN"
    # nor does it make a user of its own choosing, or an invite, or read an invite's link
    org = str(world.orgs["customer_a"].id)
    new_user = {"name": "Holder", "email": "holder@evil.example", "organisationId": org, "roles": ["OTC_ADMIN"]}
    create_user = "mutation($in: CreateUserInput!) { createUser(input: $in) { id } }"
    assert await api.code(create_user, {"in": {**new_user, "password": "Holder-Chosen-2026!x"}}) == "FORBIDDEN"
    invite = {"name": "Holder", "organisationId": org, "roles": ["OTC_ADMIN"]}
    create_invite = "mutation($in: CreateInviteInput!) { createInvite(input: $in) { id signupLink } }"
    assert await api.code(create_invite, {"in": invite}) == "FORBIDDEN"
    made = (await admin.ok(create_invite, {"in": invite}))["createInvite"]
    send = 'mutation($id: ID!) { sendInvite(id: $id, email: "holder@evil.example") { id } }'
    assert await api.code(send, {"id": made["id"]}) == "FORBIDDEN"
    link = "query($id: ID!) { invite(id: $id) { signupLink } }"
    assert await api.code(link, {"id": made["id"]}) == "FORBIDDEN"
    assert (await admin.ok(link, {"id": made["id"]}))["invite"]["signupLink"] == made["signupLink"]
    # nothing was queued for the new address, and the token still does what it is for
    assert not await AccountToken.filter(new_email="attacker@evil.example").exists()
    renamed = 'mutation($id: ID!) { updateUser(id: $id, input: {name: "Kim"}) { id } }'
    assert await api.ok(renamed, {"id": colleague})
    # the same changes in a signed-in administrator's session still work
    assert await admin.ok(UPDATE_EMAIL, {"id": colleague, "e": "kim@new.example"})


async def test_unknown_bearer_token_is_anonymous(client, world):
    api = bearer(client, "kms_pat_" + "A" * 43)
    assert (await api.ok(ME))["me"] is None
    assert await api.code(USERS) == "UNAUTHENTICATED"


async def test_token_roles_are_at_most_the_creators(as_user):
    api = await as_user("keys_a")
    error = await api.error(CREATE, {"name": "x", "roles": ["OTC_ADMIN"], "exp": None})
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert await api.code(CREATE, {"name": "x", "roles": ["PLATFORM_ADMIN"], "exp": None}) == "FORBIDDEN"
    assert await ApiToken.all().count() == 0
    # roles below the creator's own are fine
    assert (await create(api, roles=["VIEWER"]))["apiToken"]["roles"] == ["VIEWER"]


async def test_token_roles_shrink_when_the_creator_loses_roles(as_user, client, world):
    # given
    creator = await as_user("admin_a")
    both = bearer(client, (await create(creator, roles=["OTC_ADMIN", "KEY_MANAGER"]))["token"])
    admin_only = bearer(client, (await create(creator, roles=["OTC_ADMIN"]))["token"])
    assert (await both.ok(USERS))["users"]["totalCount"] == 4
    assert (await admin_only.ok(USERS))["users"]["totalCount"] == 4
    # when
    admin = await as_user("platform_admin")
    await admin.ok(
        "mutation($id: ID!) { updateUser(id: $id, input: {roles: [KEY_MANAGER]}) { roles } }",
        {"id": str(world.users["admin_a"].id)},
    )
    # then: a token keeps only the roles its creator may still grant
    assert await both.code(USERS) == "FORBIDDEN"
    assert len((await both.ok(LIST))["apiTokens"]) == 2  # as KEY_MANAGER: the creator's own tokens
    assert await admin_only.code(USERS) == "FORBIDDEN"
    assert await admin_only.code(LIST) == "FORBIDDEN"  # nothing of OTC_ADMIN is left
    assert (await admin_only.ok(ME))["me"]["email"] == "admin_a@example.com"


async def test_token_of_a_deactivated_creator_is_refused(as_user, client, world):
    created = await create(await as_user("keys_a"))
    admin = await as_user("admin_a")
    await admin.ok(
        "mutation($id: ID!) { updateUser(id: $id, input: {isActive: false}) { isActive } }",
        {"id": str(world.users["keys_a"].id)},
    )
    assert await bearer(client, created["token"]).code(LIST) == "UNAUTHENTICATED"


async def test_revoked_token_is_unauthenticated(as_user, client):
    # given
    owner = await as_user("keys_a")
    created = await create(owner)
    api = bearer(client, created["token"])
    assert (await api.ok(LIST))["apiTokens"]
    # when
    revoked = await owner.ok(REVOKE, {"id": created["apiToken"]["id"]})
    # then
    assert revoked["revokeApiToken"]["revoked"] is True
    assert await api.code(LIST) == "UNAUTHENTICATED"
    assert (await api.ok(ME))["me"] is None
    # revoking again changes nothing and writes no second event
    await owner.ok(REVOKE, {"id": created["apiToken"]["id"]})
    assert await AuditEvent.filter(action="token.revoked").count() == 1


async def test_expired_token_is_unauthenticated(as_user, client):
    # given
    created = await create(await as_user("keys_a"), expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    api = bearer(client, created["token"])
    assert (await api.ok(LIST))["apiTokens"][0]["id"] == created["apiToken"]["id"]
    # when
    await ApiToken.filter(id=created["apiToken"]["id"]).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    # then
    assert await api.code(LIST) == "UNAUTHENTICATED"


async def test_expiry_in_the_past_is_refused(as_user):
    api = await as_user("keys_a")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    error = await api.error(CREATE, {"name": "x", "roles": ["KEY_MANAGER"], "exp": past})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "expiresAt"}
    assert await ApiToken.all().count() == 0


async def test_expiry_without_a_time_zone_is_bad_input(as_user):
    api = await as_user("keys_a")
    error = await api.error(CREATE, {"name": "x", "roles": ["KEY_MANAGER"], "exp": "2999-01-01T00:00:00"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "expiresAt"}
    assert await ApiToken.all().count() == 0


async def test_name_and_roles_are_validated(as_user):
    api = await as_user("keys_a")
    assert (await api.error(CREATE, {"name": "  ", "roles": ["KEY_MANAGER"], "exp": None}))["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "name",
    }
    assert (await api.error(CREATE, {"name": "x", "roles": [], "exp": None}))["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "roles",
    }


async def test_last_used_at_is_set_after_use(as_user, client):
    # given
    owner = await as_user("keys_a")
    created = await create(owner)
    token_id = created["apiToken"]["id"]
    assert (await ApiToken.get(id=token_id)).last_used_at is None
    # when
    before = datetime.now(UTC) - timedelta(seconds=1)
    await bearer(client, created["token"]).ok(ME)
    # then
    used = (await ApiToken.get(id=token_id)).last_used_at
    assert used is not None and before <= used <= datetime.now(UTC)
    assert (await owner.ok(LIST))["apiTokens"][0]["lastUsedAt"] is not None


async def test_viewer_cannot_create_or_list_tokens(as_user):
    api = await as_user("viewer_a")
    assert await api.code(CREATE, {"name": "x", "roles": ["VIEWER"], "exp": None}) == "FORBIDDEN"
    assert await api.code(LIST) == "FORBIDDEN"
    assert await ApiToken.all().count() == 0


async def test_anonymous_cannot_create_tokens(client, world):
    assert await client().code(CREATE, {"name": "x", "roles": ["VIEWER"], "exp": None}) == "UNAUTHENTICATED"


async def test_revoking_a_token_outside_ones_scope_is_not_found(as_user):
    # given
    token_a = (await create(await as_user("admin_a"), roles=["OTC_ADMIN"]))["apiToken"]["id"]
    # when / then
    for key in ("admin_b", "partner_admin", "keys_a", "admin_a_sub"):
        api = await as_user(key)
        assert await api.code(REVOKE, {"id": token_a}) == "NOT_FOUND", key
    assert await (await as_user("admin_a")).code(REVOKE, {"id": "not-a-uuid"}) == "NOT_FOUND"
    assert (await ApiToken.get(id=token_a)).revoked_at is None


async def test_admin_sees_its_subtree_key_manager_only_its_own(as_user):
    # given
    apis = {key: await as_user(key) for key in ("platform_admin", "admin_a", "keys_a", "admin_a_sub", "admin_b")}
    ids = {key: (await create(api, name=key))["apiToken"]["id"] for key, api in apis.items()}

    async def visible(key: str) -> set[str]:
        return {t["id"] for t in (await apis[key].ok(LIST))["apiTokens"]}

    # then
    assert await visible("platform_admin") == set(ids.values())
    assert await visible("admin_a") == {ids["admin_a"], ids["keys_a"], ids["admin_a_sub"]}
    assert await visible("admin_a_sub") == {ids["admin_a_sub"]}
    assert await visible("keys_a") == {ids["keys_a"]}
    assert await visible("admin_b") == {ids["admin_b"]}
    # an admin may revoke a token of its subtree
    await apis["admin_a"].ok(REVOKE, {"id": ids["keys_a"]})
    assert (await ApiToken.get(id=ids["keys_a"])).revoked_at is not None


async def test_token_acts_for_its_organisation(as_user, client, world):
    created = await create(await as_user("admin_a_sub"), roles=["OTC_ADMIN"])
    assert created["apiToken"]["organisation"]["id"] == str(world.orgs["customer_a_sub"].id)
    api = bearer(client, created["token"])
    assert (await api.ok(USERS))["users"]["totalCount"] == 1
    # the token's own events name the token by its public prefix, never the secret
    other = await create(await as_user("admin_a_sub"), name="other", roles=["KEY_MANAGER"])
    await api.ok(REVOKE, {"id": other["apiToken"]["id"]})
    event = await AuditEvent.filter(action="token.revoked").order_by("-seq").first()
    assert event.actor == f"token:{created['apiToken']['prefix']} (admin_a_sub@example.com)"
    assert created["token"] not in event.actor + event.details
