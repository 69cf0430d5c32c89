"""The user list, a user, add and edit user, an admin setting a password."""

from __future__ import annotations

import uuid

import pytest

from crypto import passwords
from models.auth import Session
from models.users import User
from tests.conftest import PASSWORD

USERS = """query($filter: UserFilter, $first: Int, $after: String) {
  users(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id name email roles organisation { id } } } }"""
USER = """query($id: ID!) { user(id: $id) { id name email roles language csvDelimiter csvThousandsSeparator
  mustChangePassword isActive organisation { id } } }"""
CREATE_USER = """mutation($input: CreateUserInput!) { createUser(input: $input) { id name email roles language
  csvDelimiter csvThousandsSeparator mustChangePassword isActive organisation { id } } }"""
UPDATE_USER = """mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id name email
  roles language csvDelimiter csvThousandsSeparator isActive organisation { id } } }"""
SET_PASSWORD = "mutation($id: ID!, $p: String!) { setUserPassword(id: $id, newPassword: $p) { id mustChangePassword } }"
ME = "{ me { email } }"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { user { id } } }"
NEW_PASSWORD = "Fresh-Start-2024#q"


def new_user(world, org="customer_a", **overrides):
    return {
        "name": "New Person",
        "email": "new.person@example.com",
        "organisationId": str(world.orgs[org].id),
        "roles": ["KEY_MANAGER"],
        "password": NEW_PASSWORD,
        **overrides,
    }


async def emails(api, flt=None, **variables):
    connection = (await api.ok(USERS, {"filter": flt, **variables}))["users"]
    assert connection["totalCount"] == len(connection["nodes"])
    return {n["email"].split("@")[0] for n in connection["nodes"]}


# --- the user list ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin_a", {"admin_a", "keys_a", "viewer_a", "admin_a_sub"}),
        ("admin_a_sub", {"admin_a_sub"}),
        ("admin_b", {"admin_b", "keys_b"}),
        (
            "platform_admin",
            {"platform_admin", "admin_a", "keys_a", "viewer_a", "admin_a_sub", "admin_b", "keys_b", "partner_admin"},
        ),
    ],
)
async def test_user_list_holds_the_subtree_only(as_user, who, expected):
    assert await emails(await as_user(who)) == expected


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"name": "admin"}, {"admin_a", "admin_a_sub"}),
        ({"name": "KEYS"}, {"keys_a"}),
        ({"email": "VIEWER_A@"}, {"viewer_a"}),
        ({"organisationIds": ["customer_a_sub"]}, {"admin_a_sub"}),
        ({"organisationIds": ["customer_a", "customer_a_sub"]}, {"admin_a", "keys_a", "viewer_a", "admin_a_sub"}),
        ({"organisationIds": ["customer_b"]}, set()),  # outside the subtree: nothing, not an error
        ({"roles": ["OTC_ADMIN"]}, {"admin_a", "admin_a_sub"}),
        ({"roles": ["VIEWER", "KEY_MANAGER"]}, set()),  # every role must be held
        ({"roles": ["OTC_ADMIN"], "organisationIds": ["customer_a"], "name": "a"}, {"admin_a"}),
    ],
)
async def test_user_list_filters(as_user, world, flt, expected):
    flt = {**flt}
    if "organisationIds" in flt:
        flt["organisationIds"] = [str(world.orgs[k].id) for k in flt["organisationIds"]]
    assert await emails(await as_user("admin_a"), flt) == expected


async def test_role_filter_finds_users_holding_several_roles(as_user, world):
    await world.user("multi", "customer_a", ["KEY_MANAGER", "VIEWER"])
    api = await as_user("admin_a")
    assert await emails(api, {"roles": ["VIEWER"]}) == {"viewer_a", "multi"}
    assert await emails(api, {"roles": ["VIEWER", "KEY_MANAGER"]}) == {"multi"}


async def test_user_list_refuses_a_malformed_organisation_id(as_user):
    error = await (await as_user("admin_a")).error(USERS, {"filter": {"organisationIds": ["nope"]}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "organisationIds"}


async def pages(api, first, after=None):
    """Every page from ``after`` on, as lists of ids."""
    result = []
    for _ in range(20):  # bounded: a cursor that does not advance must fail, not hang
        connection = (await api.ok(USERS, {"first": first, "after": after}))["users"]
        result.append([n["id"] for n in connection["nodes"]])
        if not connection["pageInfo"]["hasNextPage"]:
            return result
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError(f"pagination does not end: {result}")


async def test_keyset_pages_do_not_overlap_and_cover_the_list(as_user, world):
    # given: three users share a name, so the id must break the tie
    for key in ("twin_1", "twin_2", "twin_3"):
        await world.user(key, "customer_a", ["VIEWER"])
        await User.filter(id=world.users[key].id).update(name="Twin")
    api = await as_user("admin_a")
    everything = [n["id"] for n in (await api.ok(USERS))["users"]["nodes"]]
    # when
    paged = await pages(api, first=2)
    # then
    assert len(everything) == 7
    assert [len(p) for p in paged] == [2, 2, 2, 1]
    assert [i for p in paged for i in p] == everything


async def test_keyset_pages_are_stable_when_rows_are_inserted_between_pages(as_user, world):
    api = await as_user("admin_a")
    before = [n["id"] for n in (await api.ok(USERS))["users"]["nodes"]]
    first_page = (await api.ok(USERS, {"first": 2}))["users"]
    seen = [n["id"] for n in first_page["nodes"]]
    # when: one user sorts before the cursor, one after it
    early = await world.user("aaron_early", "customer_a", ["VIEWER"])
    late = await world.user("zz_late", "customer_a", ["VIEWER"])
    rest = [i for p in await pages(api, 2, first_page["pageInfo"]["endCursor"]) for i in p]
    # then
    assert seen == before[:2]
    assert rest == [*before[2:], str(late.id)]
    assert str(early.id) not in rest


async def test_a_forged_cursor_is_bad_input(as_user):
    error = await (await as_user("admin_a")).error(USERS, {"after": "not-a-cursor"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


# --- one user --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "target", "code"),
    [
        ("admin_a", "keys_a", None),
        ("admin_a", "admin_a_sub", None),
        ("platform_admin", "admin_b", None),
        ("viewer_a", "viewer_a", None),  # everybody reads their own account
        ("viewer_a", "keys_a", "FORBIDDEN"),
        ("keys_a", "admin_a", "FORBIDDEN"),
        ("admin_a", "admin_b", "NOT_FOUND"),
        ("admin_a_sub", "admin_a", "NOT_FOUND"),
        ("admin_a", "partner_admin", "NOT_FOUND"),
    ],
)
async def test_user_by_id(as_user, world, who, target, code):
    api = await as_user(who)
    variables = {"id": str(world.users[target].id)}
    if code:
        assert await api.code(USER, variables) == code
    else:
        assert (await api.ok(USER, variables))["user"]["email"] == f"{target}@example.com"


async def test_user_by_malformed_id_is_not_found(as_user):
    assert await (await as_user("admin_a")).code(USER, {"id": "42"}) == "NOT_FOUND"


# --- add user --------------------------------------------------------------------------------------------------


async def test_created_user_must_change_the_password_at_first_login(as_user, client, world):
    # given
    api = await as_user("admin_a")
    # when
    created = (
        await api.ok(
            CREATE_USER,
            {
                "input": new_user(
                    world,
                    "customer_a_sub",
                    email="New.Person@Example.COM",
                    language="DE",
                    csvDelimiter=",",
                    csvThousandsSeparator=".",
                )
            },
        )
    )["createUser"]
    # then
    assert created | {"id": None} == {
        "id": None,
        "name": "New Person",
        "email": "new.person@example.com",
        "roles": ["KEY_MANAGER"],
        "language": "DE",
        "csvDelimiter": ",",
        "csvThousandsSeparator": ".",
        "mustChangePassword": True,
        "isActive": True,
        "organisation": {"id": str(world.orgs["customer_a_sub"].id)},
    }
    newcomer = client()
    assert (await newcomer.login("new.person@example.com", NEW_PASSWORD))["login"]["mustChangePassword"] is True
    assert await newcomer.code(USERS) == "PASSWORD_CHANGE_REQUIRED"


async def test_the_thousands_separator_must_differ_from_the_csv_delimiter(as_user, world):
    admin = await as_user("admin_a")
    same = new_user(world, csvDelimiter=",", csvThousandsSeparator=",")
    error = await admin.error(CREATE_USER, {"input": same})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "csvThousandsSeparator"}
    # a profile changes one of them to the other's value (keys_a writes ";" and no separator)
    own = await as_user("keys_a")
    edit = "mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { csvDelimiter } }"
    me = str(world.users["keys_a"].id)
    error = await own.error(edit, {"id": me, "in": {"csvThousandsSeparator": ";"}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "csvThousandsSeparator"}
    # both changed at once to different characters is fine
    both = {"csvDelimiter": ",", "csvThousandsSeparator": "."}
    assert (await own.ok(edit, {"id": me, "in": both}))["updateUser"]["csvDelimiter"] == ","
    # a user stored with equal ones before this rule can still be renamed, and switched off by an admin
    await User.filter(id=me).update(csv_delimiter=",", csv_thousands_separator=",")
    assert await own.ok(edit, {"id": me, "in": {"name": "Kim"}})
    assert await admin.ok(edit, {"id": me, "in": {"isActive": False}})


async def test_an_admin_changes_their_own_email_only_with_the_password(as_user, world):
    from models.invites import AccountToken

    admin = await as_user("admin_a")
    me = str(world.users["admin_a"].id)
    edit = "mutation($id: ID!, $e: String!) { updateUser(id: $id, input: {email: $e}) { email } }"
    error = await admin.error(edit, {"id": me, "e": "thief@evil.example"})
    assert error["extensions"]["code"] == "FORBIDDEN" and "changeEmail" in error["message"]
    assert not await AccountToken.filter(new_email="thief@evil.example").exists()
    # the address as it is still passes (a form that sends every field)
    assert (await admin.ok(edit, {"id": me, "e": "Admin_A@example.com"}))["updateUser"][
        "email"
    ] == "admin_a@example.com"


async def test_created_user_gets_the_default_settings(as_user, world):
    created = (await (await as_user("admin_a")).ok(CREATE_USER, {"input": new_user(world)}))["createUser"]
    assert (created["language"], created["csvDelimiter"], created["csvThousandsSeparator"]) == ("EN", ";", "")


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Sh0rt-pass", passwords.RULE_TOO_SHORT),
        ("no-upper-case-42", passwords.RULE_UPPERCASE),
        ("NO-LOWER-CASE-42", passwords.RULE_LOWERCASE),
        ("No-Digits-Here-!", passwords.RULE_DIGIT),
        ("NoSpecials12345x", passwords.RULE_SPECIAL),
        ("Password123!", passwords.RULE_COMMON),
        ("Zed-New.Person-99", passwords.RULE_CONTAINS_EMAIL),
    ],
)
async def test_create_user_applies_the_password_policy(as_user, world, password, rule):
    error = await (await as_user("admin_a")).error(CREATE_USER, {"input": new_user(world, password=password)})
    assert error["extensions"] == {"code": "WEAK_PASSWORD", "violations": [rule]}
    assert not await User.exists(email="new.person@example.com")


@pytest.mark.parametrize(
    "email",
    [
        "victim@example.com,evil@attacker.test",  # one header, two recipients
        "x<evil@attacker.test>@example.com",
        'a"b@example.com',
        "two@at@example.com",
        "no-domain-dot@example",
        "with space@example.com",
    ],
)
async def test_create_and_edit_user_refuse_addresses_mail_cannot_go_to(as_user, world, email):
    admin = await as_user("admin_a")
    error = await admin.error(CREATE_USER, {"input": new_user(world, email=email)})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "email"}
    edit = "mutation($id: ID!, $e: String!) { updateUser(id: $id, input: {email: $e}) { id } }"
    error = await admin.error(edit, {"id": str(world.users["keys_a"].id), "e": email})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "email"}


@pytest.mark.parametrize("email", ["KEYS_B@example.com", "keys_b@EXAMPLE.com", " keys_b@example.com "])
async def test_create_user_with_a_taken_email(as_user, world, email):
    # keys_b lives in another organisation: the email is taken all the same
    error = await (await as_user("admin_a")).error(CREATE_USER, {"input": new_user(world, email=email)})
    assert error["extensions"] == {"code": "EMAIL_TAKEN", "field": "email"}


@pytest.mark.parametrize(
    ("who", "roles"),
    [
        ("admin_a", ["PLATFORM_ADMIN"]),
        ("admin_a", ["VIEWER", "PLATFORM_ADMIN"]),
    ],
)
async def test_create_user_cannot_grant_a_role_above_your_own(as_user, world, who, roles):
    assert await (await as_user(who)).code(CREATE_USER, {"input": new_user(world, roles=roles)}) == "FORBIDDEN"
    assert not await User.exists(email="new.person@example.com")


async def test_create_user_grants_roles_up_to_your_own(as_user, world):
    roles = ["OTC_ADMIN", "KEY_MANAGER"]
    created = await (await as_user("admin_a")).ok(CREATE_USER, {"input": new_user(world, roles=roles)})
    assert sorted(created["createUser"]["roles"]) == ["KEY_MANAGER", "OTC_ADMIN"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("csvDelimiter", "ab"),
        ("csvDelimiter", "x"),
        ("csvDelimiter", "7"),
        ("csvDelimiter", '"'),
        ("csvDelimiter", ""),
        ("csvThousandsSeparator", "k"),
        ("csvThousandsSeparator", ".,"),
    ],
)
async def test_bad_csv_settings_name_the_field(as_user, world, field, value):
    api = await as_user("admin_a")
    error = await api.error(CREATE_USER, {"input": new_user(world, **{field: value})})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    error = await api.error(UPDATE_USER, {"id": str(world.users["keys_a"].id), "input": {field: value}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


# --- edit user -------------------------------------------------------------------------------------------------


async def test_admin_edits_the_whole_profile(as_user, world):
    # given
    api = await as_user("admin_a")
    keys_id = str(world.users["keys_a"].id)
    changes = {
        "name": "Kim Keys",
        "organisationId": str(world.orgs["customer_a_sub"].id),
        "roles": ["VIEWER", "KEY_MANAGER"],
        "language": "SV",
        "csvDelimiter": "\t",
        "csvThousandsSeparator": " ",
        "isActive": False,
    }
    # when
    await api.ok(UPDATE_USER, {"id": keys_id, "input": changes})
    # then: read back, not just echoed
    stored = (await api.ok(USER, {"id": keys_id}))["user"]
    assert {**stored, "roles": sorted(stored["roles"])} == {
        "id": keys_id,
        "name": "Kim Keys",
        "email": "keys_a@example.com",
        "roles": ["KEY_MANAGER", "VIEWER"],
        "language": "SV",
        "csvDelimiter": "\t",
        "csvThousandsSeparator": " ",
        "mustChangePassword": False,
        "isActive": False,
        "organisation": {"id": str(world.orgs["customer_a_sub"].id)},
    }


@pytest.mark.parametrize("language", ["EN", "DE", "ES", "SV"])
async def test_a_user_edits_own_name_language_and_csv_settings(as_user, world, language):
    api = await as_user("viewer_a")
    me = str(world.users["viewer_a"].id)
    changes = {"name": "Vera", "language": language, "csvDelimiter": "|", "csvThousandsSeparator": "."}
    await api.ok(UPDATE_USER, {"id": me, "input": changes})
    stored = (await api.ok(USER, {"id": me}))["user"]
    assert {k: stored[k] for k in changes} == changes


@pytest.mark.parametrize(
    "changes",
    [
        {"roles": ["OTC_ADMIN"]},
        {"roles": ["VIEWER", "KEY_MANAGER"]},
        {"organisationId": "customer_a_sub"},
        {"name": "Vera", "roles": ["VIEWER"]},
    ],
)
@pytest.mark.parametrize("who", ["viewer_a", "keys_a"])
async def test_a_user_cannot_change_own_roles_or_organisation(as_user, world, who, changes):
    if "organisationId" in changes:
        changes = {"organisationId": str(world.orgs[changes["organisationId"]].id)}
    before = await User.get(id=world.users[who].id)
    code = await (await as_user(who)).code(UPDATE_USER, {"id": str(before.id), "input": changes})
    after = await User.get(id=before.id)
    assert code == "FORBIDDEN"
    assert (after.name, after.roles, after.organisation_id) == (before.name, before.roles, before.organisation_id)


async def test_an_admin_cannot_edit_a_user_holding_a_higher_role(as_user, world):
    # given: a platform administrator filed under customer_a, inside admin_a's subtree
    boss = await world.user("boss", "customer_a", ["PLATFORM_ADMIN"])
    api = await as_user("admin_a")
    # when / then
    assert await api.code(UPDATE_USER, {"id": str(boss.id), "input": {"name": "Demoted"}}) == "FORBIDDEN"
    assert await api.code(UPDATE_USER, {"id": str(boss.id), "input": {"isActive": False}}) == "FORBIDDEN"
    assert await api.code(SET_PASSWORD, {"id": str(boss.id), "p": NEW_PASSWORD}) == "FORBIDDEN"
    stored = await User.get(id=boss.id)
    assert (stored.name, stored.is_active, stored.password_hash) == (boss.name, True, boss.password_hash)
    # an equal role is fine
    sub = str(world.users["admin_a_sub"].id)
    assert (await api.ok(UPDATE_USER, {"id": sub, "input": {"name": "Sub Admin"}}))["updateUser"]["name"] == "Sub Admin"


async def test_an_admin_cannot_raise_a_user_above_its_own_role(as_user, world):
    api = await as_user("admin_a")
    keys_id = str(world.users["keys_a"].id)
    assert await api.code(UPDATE_USER, {"id": keys_id, "input": {"roles": ["PLATFORM_ADMIN"]}}) == "FORBIDDEN"
    assert (await User.get(id=keys_id)).role_list == ["KEY_MANAGER"]


async def test_edit_user_with_a_taken_email(as_user, world):
    api = await as_user("admin_a")
    error = await api.error(
        UPDATE_USER, {"id": str(world.users["keys_a"].id), "input": {"email": "Admin_B@example.com"}}
    )
    assert error["extensions"] == {"code": "EMAIL_TAKEN", "field": "email"}
    # keeping one's own email is not a clash
    same = {"id": str(world.users["keys_a"].id), "input": {"email": "KEYS_A@example.com"}}
    assert (await api.ok(UPDATE_USER, same))["updateUser"]["email"] == "keys_a@example.com"


async def test_deactivation_ends_the_users_sessions(as_user, client, world):
    # given
    viewer = await as_user("viewer_a")
    admin = await as_user("admin_a")
    viewer_id = str(world.users["viewer_a"].id)
    # when
    await admin.ok(UPDATE_USER, {"id": viewer_id, "input": {"isActive": False}})
    # then: the sessions are gone, not merely refused
    assert await Session.filter(user_id=viewer_id).count() == 0
    assert (await viewer.ok(ME))["me"] is None
    assert await client().code(LOGIN, {"e": "viewer_a@example.com", "p": PASSWORD}) == "INVALID_CREDENTIALS"
    # reactivated, the user logs in again
    await admin.ok(UPDATE_USER, {"id": viewer_id, "input": {"isActive": True}})
    await client().login("viewer_a@example.com")


async def test_an_admin_cannot_deactivate_itself(as_user, world):
    error = await (await as_user("admin_a")).error(
        UPDATE_USER, {"id": str(world.users["admin_a"].id), "input": {"isActive": False}}
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "isActive"}


# --- set a password --------------------------------------------------------------------------------------------


async def test_set_user_password_forces_a_change_and_ends_sessions(as_user, client, world):
    # given
    keys = await as_user("keys_a")
    admin = await as_user("admin_a")
    keys_id = str(world.users["keys_a"].id)
    # when
    result = (await admin.ok(SET_PASSWORD, {"id": keys_id, "p": NEW_PASSWORD}))["setUserPassword"]
    # then
    assert result == {"id": keys_id, "mustChangePassword": True}
    assert (await keys.ok(ME))["me"] is None
    assert await client().code(LOGIN, {"e": "keys_a@example.com", "p": PASSWORD}) == "INVALID_CREDENTIALS"
    again = client()
    assert (await again.login("keys_a@example.com", NEW_PASSWORD))["login"]["mustChangePassword"] is True
    assert await again.code(USERS) == "PASSWORD_CHANGE_REQUIRED"


async def test_set_user_password_applies_the_policy(as_user, world):
    keys = world.users["keys_a"]
    error = await (await as_user("admin_a")).error(SET_PASSWORD, {"id": str(keys.id), "p": "My-keys_a-pass-1"})
    assert error["extensions"] == {"code": "WEAK_PASSWORD", "violations": [passwords.RULE_CONTAINS_EMAIL]}
    assert (await User.get(id=keys.id)).password_hash == keys.password_hash


async def test_admins_cannot_change_their_own_rights_or_set_their_own_password(as_user, world):
    admin = await as_user("admin_a")
    update = "mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { id } }"
    set_password = 'mutation($id: ID!) { setUserPassword(id: $id, newPassword: "Another-Secret-99!") { id } }'
    own = str(world.users["admin_a"].id)
    for me in (own, own.upper()):  # the ID however the caller spells it
        assert await admin.code(update, {"id": me, "in": {"roles": ["VIEWER"]}}) == "FORBIDDEN"
        assert await admin.code(update, {"id": me, "in": {"isActive": False}}) == "BAD_USER_INPUT"
        moved = {"organisationId": str(world.orgs["customer_a_sub"].id)}
        assert await admin.code(update, {"id": me, "in": moved}) == "FORBIDDEN"
        assert await admin.code(set_password, {"id": me}) == "BAD_USER_INPUT"
    user = await User.get(id=own)
    assert user.is_active and user.role_list == world.users["admin_a"].role_list
    assert user.password_hash == world.users["admin_a"].password_hash


async def test_changes_to_a_user_are_audited_in_the_users_organisation(as_user, world):
    from models.audit import AuditEvent

    platform = await as_user("platform_admin")
    target = world.users["keys_a"]
    await platform.ok(
        'mutation($id: ID!) { updateUser(id: $id, input: {name: "Kim K"}) { id } }', {"id": str(target.id)}
    )
    event = await AuditEvent.get(action="user.updated")
    assert event.organisation_id == world.orgs["customer_a"].id  # so customer A's admins see it


async def test_the_audit_says_which_roles_were_granted_and_whether_the_account_was_switched_off(as_user, world):
    import json

    from models.audit import AuditEvent

    admin = await as_user("admin_a")
    target = str(world.users["viewer_a"].id)
    change = "mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { id } }"
    await admin.ok(change, {"id": target, "in": {"roles": ["OTC_ADMIN", "KEY_MANAGER"]}})
    await admin.ok(change, {"id": target, "in": {"isActive": False}})
    await admin.ok(change, {"id": target, "in": {"email": "viewer.new@example.com", "language": "DE"}})
    details = [json.loads(e.details) for e in await AuditEvent.filter(action="user.updated").order_by("seq")]
    assert details == [
        {"fields": ["roles"], "roles": ["KEY_MANAGER", "OTC_ADMIN"]},
        {"fields": ["is_active"], "isActive": False},
        {"fields": ["language"], "emailRequested": "viewer.new@example.com"},
    ]


async def test_only_a_duplicate_email_reads_as_taken(world):
    """EMAIL_TAKEN (and BATCH_REFERENCE_TAKEN, a partner's CONFLICT) answer a concurrent duplicate only: any
    other integrity error (a failing audit store, a foreign key) must stay INTERNAL. Real errors of the
    database, on SQLite and on PostgreSQL."""
    from tortoise.exceptions import IntegrityError

    from models.devices import BatchReference
    from resolvers.errors import duplicate_of

    taken = world.users["keys_a"]
    with pytest.raises(IntegrityError) as duplicate:
        await User.create(name="Twin", email=taken.email, organisation_id=taken.organisation_id, password_hash="x")
    assert duplicate_of(duplicate.value, "users", "email")
    assert not duplicate_of(duplicate.value, "users", "name")
    assert not duplicate_of(duplicate.value, "batch_references", "organisation_id", "reference")
    org, sender = world.orgs["customer_a"], world.orgs["platform"]
    await BatchReference.create(reference="TWICE", organisation_id=org.id, sender_id=sender.id)
    with pytest.raises(IntegrityError) as batch:
        await BatchReference.create(reference="TWICE", organisation_id=org.id, sender_id=sender.id)
    assert duplicate_of(batch.value, "batch_references", "organisation_id", "reference")
    assert not duplicate_of(batch.value, "batch_references", "reference")
    with pytest.raises(IntegrityError) as dangling:
        await User.create(name="Nobody's", email="new@example.com", organisation_id=uuid.uuid4(), password_hash="x")
    assert not duplicate_of(dangling.value, "users", "email")
