"""The audit log: what is recorded, who reads what, the hash chain, and no change without its event."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

from tortoise import connections

from models import db
from models.audit import AuditEvent
from models.organisations import Organisation
from models.tokens import ApiToken
from models.users import User
from resolvers import audit
from tests.conftest import PASSWORD

EVENTS = """query($action: String, $first: Int, $after: String) {
  auditEvents(action: $action, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id at action actor target details organisation { id } } } }"""
VERIFY = "{ verifyAuditLog { ok eventsChecked firstBrokenEventId } }"
CREATE_TOKEN = """mutation($name: String!) { createApiToken(input: {name: $name, roles: [KEY_MANAGER]}) {
  token apiToken { id prefix } } }"""
NEW_PASSWORD = "Sturdy-Harbor-58%q"


async def events(api, action: str | None = None, first: int = 500) -> list[dict]:
    return (await api.ok(EVENTS, {"action": action, "first": first}))["auditEvents"]["nodes"]


def text_of(event: AuditEvent) -> str:
    return " ".join(str(v) for v in (event.action, event.actor, event.target, event.details))


@asynccontextmanager
async def audit_inserts_fail():
    """Make the database itself refuse every new audit row (a trigger), as a full disk or a lost
    privilege would; the trigger is dropped afterwards."""
    conn = connections.get("default")
    if db.dialect() == "postgres":
        await conn.execute_script(
            "CREATE FUNCTION kms_test_refuse() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'audit store unavailable'; END $$ LANGUAGE plpgsql;"
            "CREATE TRIGGER kms_test_refuse BEFORE INSERT ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION kms_test_refuse();"
        )
    else:
        await conn.execute_script(
            "CREATE TRIGGER kms_test_refuse BEFORE INSERT ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END;"
        )
    try:
        yield
    finally:
        if db.dialect() == "postgres":
            await conn.execute_script(
                "DROP TRIGGER IF EXISTS kms_test_refuse ON audit_events; DROP FUNCTION IF EXISTS kms_test_refuse();"
            )
        else:
            await conn.execute_script("DROP TRIGGER IF EXISTS kms_test_refuse")


async def test_changes_are_recorded_with_actor_organisation_target_and_no_secrets(as_user, world):
    # given
    api = await as_user("admin_a")
    org_a, sub = world.orgs["customer_a"], world.orgs["customer_a_sub"]
    # when
    user = (
        await api.ok(
            """mutation($o: ID!, $p: String!) { createUser(input: {name: "Nina", email: "nina@example.com",
        organisationId: $o, roles: [KEY_MANAGER], password: $p}) { id } }""",
            {"o": str(sub.id), "p": NEW_PASSWORD},
        )
    )["createUser"]
    await api.ok('mutation($id: ID!) { updateUser(id: $id, input: {name: "Nina K"}) { id } }', {"id": user["id"]})
    await api.ok(
        "mutation($id: ID!, $p: String!) { setUserPassword(id: $id, newPassword: $p) { id } }",
        {"id": user["id"], "p": NEW_PASSWORD + "x"},
    )
    org = (await api.ok('mutation { createOrganisation(input: {name: "Depot"}) { id } }'))["createOrganisation"]
    await api.ok(
        'mutation($id: ID!) { updateOrganisation(id: $id, input: {yourReference: "R-1"}) { id } }', {"id": org["id"]}
    )
    partner = str(world.orgs["customer_b"].id)
    await api.ok("mutation($id: ID!) { addPartner(organisationId: $id) { id } }", {"id": partner})
    await api.ok("mutation($id: ID!) { removePartner(organisationId: $id) }", {"id": partner})
    created = (await api.ok(CREATE_TOKEN, {"name": "ci"}))["createApiToken"]
    await api.ok("mutation($id: ID!) { revokeApiToken(id: $id) { id } }", {"id": created["apiToken"]["id"]})
    # then
    by_action = {e["action"]: e for e in await events(api)}
    token_target = f"token:{created['apiToken']['id']}"
    expected = {
        "user.created": (str(sub.id), f"user:{user['id']}"),
        # recorded under the actor's organisation today; the user's (sub) would match user.created
        "user.updated": ({str(org_a.id), str(sub.id)}, f"user:{user['id']}"),
        "password.set": ({str(org_a.id), str(sub.id)}, f"user:{user['id']}"),
        "organisation.created": (org["id"], f"organisation:{org['id']}"),
        "organisation.updated": (org["id"], f"organisation:{org['id']}"),
        "partner.added": (str(org_a.id), f"organisation:{partner}"),
        "partner.removed": (str(org_a.id), f"organisation:{partner}"),
        "token.created": (str(org_a.id), token_target),
        "token.revoked": (str(org_a.id), token_target),
        "login.succeeded": (str(org_a.id), f"user:{world.users['admin_a'].id}"),
    }
    assert set(by_action) == set(expected)
    for action, (organisation, target) in expected.items():
        event = by_action[action]
        assert event["actor"] == "user:admin_a@example.com", action
        assert event["target"] == target, action
        assert event["organisation"]["id"] in ({organisation} if isinstance(organisation, str) else organisation)
        assert isinstance(json.loads(event["details"]), dict)
    assert json.loads(by_action["user.created"]["details"]) == {"email": "nina@example.com", "roles": ["KEY_MANAGER"]}
    assert json.loads(by_action["token.created"]["details"]) == {
        "name": "ci",
        "prefix": created["apiToken"]["prefix"],
        "roles": ["KEY_MANAGER"],
    }
    for row in await AuditEvent.all():
        for secret in (NEW_PASSWORD, PASSWORD, created["token"], "password_hash", "argon2"):
            assert secret not in text_of(row), (row.action, secret)


async def test_details_with_a_secret_key_are_refused():
    for key in ("password", "token", "secret", "key"):
        try:
            await audit.record("test", None, details={key: "x"})
        except ValueError:
            continue
        raise AssertionError(f"{key} was accepted")
    assert await AuditEvent.all().count() == 0


async def test_filter_by_action_and_pagination(as_user):
    # given
    api = await as_user("keys_a")
    for i in range(5):
        await api.ok(CREATE_TOKEN, {"name": f"t{i}"})
    # when
    page1 = (await api.ok(EVENTS, {"action": "token.created", "first": 2}))["auditEvents"]
    page2 = (await api.ok(EVENTS, {"action": "token.created", "first": 2, "after": page1["pageInfo"]["endCursor"]}))[
        "auditEvents"
    ]
    page3 = (await api.ok(EVENTS, {"action": "token.created", "first": 2, "after": page2["pageInfo"]["endCursor"]}))[
        "auditEvents"
    ]
    # then
    assert page1["totalCount"] == 5
    assert [p["pageInfo"]["hasNextPage"] for p in (page1, page2, page3)] == [True, True, False]
    names = [json.loads(e["details"])["name"] for p in (page1, page2, page3) for e in p["nodes"]]
    assert names == ["t4", "t3", "t2", "t1", "t0"]  # newest first, each once
    assert {e["action"] for e in await events(api)} == {"login.succeeded", "token.created"}
    assert await api.code(EVENTS, {"first": 2, "after": "garbage!"}) == "BAD_USER_INPUT"
    assert await api.code(EVENTS, {"first": 100000}) == "BAD_USER_INPUT"


async def test_who_reads_which_events(as_user, world):
    # given: every user logs in and creates a token
    keys = ("platform_admin", "admin_a", "keys_a", "admin_a_sub", "admin_b", "keys_b", "partner_admin")
    apis = {key: await as_user(key) for key in keys}
    for key, api in apis.items():
        await api.ok(CREATE_TOKEN, {"name": key})
    # an admin revokes a token of its subtree: the event belongs to the token's organisation too
    sub_token = await ApiToken.get(name="admin_a_sub")
    await apis["admin_a"].ok("mutation($id: ID!) { revokeApiToken(id: $id) { id } }", {"id": str(sub_token.id)})

    async def actors(key: str) -> set[str]:
        return {e["actor"].removeprefix("user:").removesuffix("@example.com") for e in await events(apis[key])}

    # then
    assert await actors("platform_admin") == set(keys)
    assert await actors("admin_a") == {"admin_a", "keys_a", "admin_a_sub"}
    assert await actors("keys_a") == {"keys_a"}
    assert await actors("admin_a_sub") == {"admin_a_sub", "admin_a"}  # the revocation of its token
    assert await actors("admin_b") == {"admin_b", "keys_b"}
    assert await actors("partner_admin") == {"partner_admin"}
    assert len(await events(apis["platform_admin"])) == await AuditEvent.all().count()
    assert await (await as_user("viewer_a")).code(EVENTS) == "FORBIDDEN"


async def test_verify_counts_every_event(as_user):
    # given
    api = await as_user("platform_admin")
    await api.ok(CREATE_TOKEN, {"name": "one"})
    await (await as_user("admin_b")).ok(CREATE_TOKEN, {"name": "two"})
    # when
    result = (await api.ok(VERIFY))["verifyAuditLog"]
    # then
    assert result == {"ok": True, "eventsChecked": await AuditEvent.all().count(), "firstBrokenEventId": None}
    assert result["eventsChecked"] == 4


async def test_an_edited_event_breaks_the_chain_there(as_user):
    # given
    api = await as_user("platform_admin")
    for i in range(4):
        await api.ok(CREATE_TOKEN, {"name": f"t{i}"})
    victim = (await AuditEvent.all().order_by("seq"))[2]
    # when
    await AuditEvent.filter(seq=victim.seq).update(details=victim.details.replace('"t1"', '"t9"'))
    # then
    result = (await api.ok(VERIFY))["verifyAuditLog"]
    assert result == {"ok": False, "eventsChecked": 3, "firstBrokenEventId": str(victim.id)}


async def test_an_edit_with_a_recomputed_hash_breaks_the_next_event(as_user):
    api = await as_user("platform_admin")
    for i in range(3):
        await api.ok(CREATE_TOKEN, {"name": f"t{i}"})
    rows = await AuditEvent.all().order_by("seq")
    rows[1].actor = "user:somebody-else@example.com"
    await AuditEvent.filter(seq=rows[1].seq).update(actor=rows[1].actor, hash=audit.event_hash(rows[1]))
    result = (await api.ok(VERIFY))["verifyAuditLog"]
    assert result["ok"] is False and result["firstBrokenEventId"] == str(rows[2].id)


async def test_a_deleted_event_breaks_the_chain_at_the_next_one(as_user):
    # given
    api = await as_user("platform_admin")
    for i in range(4):
        await api.ok(CREATE_TOKEN, {"name": f"t{i}"})
    rows = await AuditEvent.all().order_by("seq")
    # when
    await AuditEvent.filter(seq=rows[2].seq).delete()
    # then
    result = (await api.ok(VERIFY))["verifyAuditLog"]
    assert result == {"ok": False, "eventsChecked": 3, "firstBrokenEventId": str(rows[3].id)}


async def test_only_the_platform_admin_verifies_the_chain(as_user, client):
    for key in ("admin_a", "keys_a", "viewer_a", "partner_admin"):
        assert await (await as_user(key)).code(VERIFY) == "FORBIDDEN", key
    assert await client().code(VERIFY) == "UNAUTHENTICATED"


async def test_no_change_remains_when_the_audit_event_cannot_be_written(as_user, world, caplog):
    # given
    api = await as_user("admin_a")
    org = world.orgs["customer_a_sub"]
    before = await AuditEvent.all().count()
    # when
    async with audit_inserts_fail():
        token_error = await api.error(CREATE_TOKEN, {"name": "ghost"})
        org_error = await api.error(
            'mutation($id: ID!) { updateOrganisation(id: $id, input: {name: "Renamed"}) { id } }', {"id": str(org.id)}
        )
        user_error = await api.error(
            "mutation($id: ID!) { updateUser(id: $id, input: {roles: [VIEWER]}) { id } }",
            {"id": str(world.users["keys_a"].id)},
        )
    # then
    for error in (token_error, org_error, user_error):  # (not EMAIL_TAKEN: only a duplicate email is that)
        assert error["extensions"]["code"] == "INTERNAL" and error["message"] == "Internal error."
    assert all("audit store" not in json.dumps(e) for e in (token_error, org_error, user_error))
    assert await ApiToken.all().count() == 0
    assert (await Organisation.get(id=org.id)).name == "Customer A Sub"
    assert (await User.get(id=world.users["keys_a"].id)).role_list == ["KEY_MANAGER"]
    assert await AuditEvent.all().count() == before
    assert token_error["extensions"]["requestId"] in caplog.text
    # and once the store works again, so does the change
    await api.ok(CREATE_TOKEN, {"name": "real"})
    assert (await (await as_user("platform_admin")).ok(VERIFY))["verifyAuditLog"]["ok"] is True


def test_the_consoles_action_suggestions_name_every_action_the_service_records():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    recorded = set()
    for source in (root / "resolvers").rglob("*.py"):
        recorded |= set(re.findall(r'(?:audit\.record|_record|_audit|_audit_for)\(\s*"([a-z_.]+)"', source.read_text()))
    listed = re.search(
        r"export const ACTIONS = \[(.*?)\];", (root / "console/static/plugins/audit/list.js").read_text(), re.S
    )
    assert listed and set(re.findall(r'"([a-z_.]+)"', listed.group(1))) == recorded
    assert {"batch.take_refused", "keys.released", "invite.sent", "mail.sent", "password.reset"} <= recorded
