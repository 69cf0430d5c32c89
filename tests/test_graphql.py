"""Hardening of the GraphQL endpoint and the HTTP surface: limits, introspection, error masking,
health checks, security headers, GraphiQL, and the schema against the public contract."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import re
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import asyncpg
import httpx
import pytest
from graphql import GraphQLError, find_breaking_changes
from graphql import build_schema as build_sdl

import app as app_module
from models.devices import Device
from models.tokens import ApiToken
from resolvers.errors import NotFound
from schema import build_schema
from schema.extensions import public_error
from tests.conftest import PASSWORD, TEST_DB
from tests.test_audit import audit_inserts_fail

IMPORT_ROWS = (
    "mutation($org: ID!, $rows: [DeviceImportRow!]!) { importDevices(organisationId: $org, rows: $rows) { id } }"
)

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT.parent / "shared" / "api" / "contract.graphql"
INTROSPECTION = "{ __schema { types { name } } }"
CREATE_TOKEN = 'mutation { createApiToken(input: {name: "x", roles: [KEY_MANAGER]}) { token } }'

# Breaking differences to the contract that later issues remove by adding what is missing. Only shrink
# these lists: a name that is implemented must go (the test checks that every name is still missing).
NOT_YET_TYPES: set[str] = set()  # every type of the contract exists
NOT_YET_ROOT_FIELDS: set[str] = set()  # every operation of the contract exists


def nested(depth: int) -> str:
    """A query `depth` levels deep: me { organisation { parent { ... { id } } } }."""
    inner = "id"
    for _ in range(depth - 2):
        inner = f"parent {{ {inner} }}"
    return f"{{ me {{ organisation {{ {inner} }} }} }}"


# --- limits ---------------------------------------------------------------------------------------


async def test_depth_over_the_limit_is_too_complex(as_user, settings):
    api = await as_user("admin_a")
    assert (await api.ok(nested(settings.max_query_depth)))["me"]["organisation"]["parent"] is None
    error = await api.error(nested(settings.max_query_depth + 1))
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}


async def test_depth_hidden_in_fragments_is_counted(as_user, settings):
    api = await as_user("admin_a")
    inner = "id"
    for _ in range(settings.max_query_depth):
        inner = f"parent {{ {inner} }}"
    query = f"query {{ me {{ organisation {{ ...Deep }} }} }} fragment Deep on Organisation {{ {inner} }}"
    assert await api.code(query) == "QUERY_TOO_COMPLEX"


async def test_too_many_aliases_are_too_complex(client, world, settings):
    api = client()
    allowed = "{ " + " ".join(f"a{i}: __typename" for i in range(settings.max_aliases)) + " }"
    assert len(await api.ok(allowed)) == settings.max_aliases
    too_many = "{ " + " ".join(f"a{i}: __typename" for i in range(settings.max_aliases + 1)) + " }"
    assert await api.code(too_many) == "QUERY_TOO_COMPLEX"


async def test_too_many_tokens_are_too_complex(client, world, settings):
    api = client()
    query = "{ " + "__typename " * settings.max_tokens + "}"
    error = await api.error(query)
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}


NESTED_PAGES = """query($batches: Int, $devices: Int) { batchReferences(first: $batches) {
  nodes { reference devices(first: $devices) { nodes { serialNumber deviceType { name } } } } } }"""


async def test_pages_within_pages_over_the_cost_limit_are_too_complex(as_user, world, settings):
    from tests.test_batches import seed

    await seed(as_user, world)
    api = await as_user("admin_a")
    # given: at most 20,000 objects a request; a batch counts itself, its page of devices and each device with
    # its node and its type: batches x (1 + 1 + devices x 3)
    allowed = {"batches": 20, "devices": 300}  # 20 x 902 = 18,040
    too_many = {"batches": 50, "devices": 500}  # 50 x 1,502 = 75,100
    # when / then: refused before anything runs, naming what was asked and what is allowed
    assert "batchReferences" in await api.ok(NESTED_PAGES, allowed)
    error = await api.error(NESTED_PAGES, too_many)
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}
    assert "75,100 objects" in error["message"] and f"{settings.max_query_cost:,}" in error["message"]
    # and the page sizes count wherever they are written: the query, a fragment, the arguments' defaults
    inline = "{ batchReferences(first: 50) { nodes { ...D } } } fragment D on BatchReference { devices(first: 500) "
    assert await api.code(inline + "{ nodes { id deviceType { name } } } }") == "QUERY_TOO_COMPLEX"
    defaults = "{ batchReferences { nodes { devices { nodes { id deviceType { name } } } } } }"  # 50 x 152 = 7,600
    assert "batchReferences" in await api.ok(defaults)


async def test_aliased_pages_add_up_to_the_cost_limit(as_user, world):
    api = await as_user("admin_a")
    page = "devices(first: 500) { nodes { id deviceType { name } batchReference { reference } } }"  # 500 x 4
    assert await api.code("{ " + " ".join(f"p{i}: {page}" for i in range(11)) + " }") == "QUERY_TOO_COMPLEX"
    assert len(await api.ok("{ " + " ".join(f"p{i}: {page}" for i in range(10)) + " }")) == 10


# --- introspection and suggestions --------------------------------------------------------------


@pytest.mark.parametrize("key", ["keys_a", "viewer_a", None])
async def test_introspection_is_refused_below_admins(as_user, client, world, key):
    api = await as_user(key) if key else client()
    body = await api.post(INTROSPECTION)
    assert body.get("data") is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    assert await api.code('{ __type(name: "Query") { name } }') == "FORBIDDEN"
    assert (await api.ok("{ __typename }"))["__typename"] == "Query"


@pytest.mark.parametrize("key", ["admin_a", "platform_admin"])
async def test_introspection_is_allowed_for_admins(as_user, key):
    api = await as_user(key)
    names = {t["name"] for t in (await api.ok(INTROSPECTION))["__schema"]["types"]}
    assert {"Query", "Mutation", "ApiToken", "AuditEvent"} <= names


async def test_validation_results_are_reused_only_under_the_same_rules(as_user, client):
    """Validation is cached per query text and set of rules: an admin's valid introspection query must not
    let the same text through for a key manager afterwards, and the other way round."""
    admin, keys = await as_user("admin_a"), await as_user("keys_a")
    for _ in range(2):
        assert (await admin.ok(INTROSPECTION))["__schema"]["types"]
        assert await keys.code(INTROSPECTION) == "FORBIDDEN"
        assert await client().code(INTROSPECTION) == "FORBIDDEN"
    # an invalid document stays invalid when it comes again
    for _ in range(2):
        assert await admin.code("{ me { nope } }") == "BAD_USER_INPUT"


async def test_introspection_is_refused_until_the_password_is_changed(client, world):
    await world.user("fresh_admin", "customer_a", ["OTC_ADMIN"], must_change=True)
    api = client()
    await api.login("fresh_admin@example.com")
    assert await api.code(INTROSPECTION) == "FORBIDDEN"


@pytest.mark.parametrize(
    "query",
    [
        "{ mee { id } }",
        "{ users(frist: 1) { totalCount } }",
        "query($x: Rol) { me { id } }",
        "{ users(filter: {roles: [OTC_ADMINN]}) { totalCount } }",
        '{ users(filter: {nam: "x"}) { totalCount } }',
        "{ me { emial } }",
    ],
)
async def test_errors_suggest_no_names(as_user, client, world, query):
    for api in (client(), await as_user("admin_a")):
        body = await api.post(query)
        assert body["errors"]
        for error in body["errors"]:
            assert "did you mean" not in error["message"].lower(), error
            assert error["extensions"]["code"] == "BAD_USER_INPUT"


# --- error masking --------------------------------------------------------------------------------


async def test_a_variable_of_the_wrong_type_is_bad_user_input_not_internal(as_user, caplog):
    api = await as_user("admin_a")
    with caplog.at_level(logging.ERROR, logger="kms.graphql"):
        error = await api.error("query($n: Int) { devices(first: $n) { totalCount } }", {"n": "two"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "Int cannot represent non-integer value" in error["message"]
    assert [r for r in caplog.records if r.name == "kms.graphql"] == []


async def test_errors_about_values_never_quote_the_value(as_user, world):
    """A key sent in the wrong shape must not come back in the error (errors.md: no key material)."""
    platform = await as_user("platform_admin")
    secret = "aa112233445566778899aabbccddeeff"  # a letter first: unquoted in a query it is a Name token
    org = str(world.orgs["customer_a"].id)
    row = {"serialNumber": "S-1", "deviceType": "topas-sonic-lora-w8", "attributes": "{}"}
    wrong = [
        (IMPORT_ROWS, {"org": org, "rows": [{**row, "keys": [{"keyType": "AppKey", "value": secret, "bogus": 1}]}]}),
        (IMPORT_ROWS, {"org": org, "rows": [{**row, "keys": [{"value": secret}]}]}),
        (IMPORT_ROWS, {"org": org, "rows": [{**row, "keys": [{"keyType": "AppKey", "value": {"hex": secret}}]}]}),
        (IMPORT_ROWS, {"org": org, "rows": [{**row, "keys": secret}]}),
        ("query($n: Int) { devices(first: $n) { totalCount } }", {"n": secret}),
        ("query($s: [ClaimStatus!]) { devices(filter: {claimStatuses: $s}) { totalCount } }", {"s": [secret]}),
        (
            'mutation { importDevices(organisationId: "x", rows: [{serialNumber: "S", deviceType: "t", attributes: "{}",'
            f' keys: [{{keyType: "AppKey", value: 0x{secret}}}]}}]) {{ id }} }}',
            None,
        ),
        (
            'mutation { importDevices(organisationId: "x", rows: [{serialNumber: "S", deviceType: "t", attributes: "{}",'
            f' keys: [{{value: "{secret}"}}]}}]) {{ id }} }}',
            None,
        ),
        # strawberry's own scalars, and syntax errors that quote a token
        (
            'mutation($t: DateTime) { createApiToken(input: {name: "x", roles: [VIEWER], expiresAt: $t}) { token } }',
            {"t": secret},
        ),
        (f"{{ me {{ id }} }} {secret}", None),
        (f'{{ me(x: "{secret}" }}', None),
        (f"{{ me {{ id {secret}x }} }}", None),
        (f"{{ me {{ {secret.upper()} }} }}", None),
    ]
    for query, variables in wrong:
        body = await platform.post(query, variables)
        assert body.get("errors"), (query, variables)
        assert secret not in json.dumps(body).lower(), body
        assert body["errors"][0]["extensions"]["code"] in {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, body
    error = (await platform.post(wrong[0][0], wrong[0][1]))["errors"][0]
    assert "not to include unknown field 'bogus'" in error["message"]  # what is wrong is still said


async def test_a_made_up_cursor_is_bad_user_input_on_every_list(as_user):
    def cursor(values: list) -> str:
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    api = await as_user("platform_admin")
    lists = ("auditEvents", "users", "organisations", "devices", "batchReferences", "invites", "emailTemplates")
    made_up = ([1, 2], [[1], {}], ["x", "y"], ["x", "y", "z"], [None, None], [True, 1.5], "not base64 ~")
    for name in lists:
        for values in made_up:
            after = values if isinstance(values, str) else cursor(values)
            body = await api.post(f"query($a: String) {{ {name}(after: $a) {{ totalCount }} }}", {"a": after})
            assert [e["extensions"] for e in body["errors"]] == [{"code": "BAD_USER_INPUT", "field": "after"}], (
                name,
                values,
                body,
            )


async def test_a_real_cursor_with_a_value_swapped_is_never_an_internal_error(as_user, world):
    from tests.test_devices import IMPORT, lora

    platform = await as_user("platform_admin")
    org = str(world.orgs["customer_a"].id)
    await platform.ok(IMPORT, {"org": org, "rows": [lora("C-1", "70B3D5E75E0000C1"), lora("C-2", "70B3D5E75E0000C2")]})
    batch = (
        'mutation($o: ID!, $r: String!) { createBatchReference(input: {reference: $r, serialNumbers: ["C-1"], '
        "organisationId: $o}) { batchReference { id } } }"
    )
    for reference in ("R-1", "R-2"):
        await platform.ok(batch, {"o": org, "r": reference})
    invite = 'mutation($o: ID!) { createInvite(input: {name: "N", organisationId: $o, roles: [VIEWER]}) { id } }'
    for _ in range(2):
        await platform.ok(invite, {"o": org})
    swaps = (10**30, -(10**30), "x" * 100_000, "a\u0000b", True, 1.5, "not a date", [1], {"a": 1}, None, "")
    for name in ("auditEvents", "users", "organisations", "devices", "batchReferences", "invites", "emailTemplates"):
        page = f"query($a: String) {{ {name}(first: 1, after: $a) {{ nodes {{ id }} pageInfo {{ endCursor }} }} }}"
        real = (await platform.ok(page, {"a": None}))[name]["pageInfo"]["endCursor"]
        values = json.loads(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)))
        assert (await platform.ok(page, {"a": real}))[name]["nodes"], name  # the real cursor pages on
        for index in range(len(values)):
            for swap in swaps:
                made_up = [*values[:index], swap, *values[index + 1 :]]
                after = base64.urlsafe_b64encode(json.dumps(made_up).encode()).decode().rstrip("=")
                body = await platform.post(page, {"a": after})
                codes = [e["extensions"]["code"] for e in body.get("errors", [])]
                assert codes in ([], ["BAD_USER_INPUT"]), (name, index, str(swap)[:20], body)


async def test_posts_browsers_can_forge_need_the_csrf_header(as_user):
    """Forms (multipart, urlencoded, text/plain) cross sites without a preflight: only JSON goes without."""
    api = await as_user("admin_a")
    mutation = 'mutation { setDeviceLabels(deviceIds: [], labels: ["x"]) { id } }'
    operations = json.dumps({"query": mutation})
    files = {"operations": (None, operations), "map": (None, "{}")}
    forged = [
        {"files": files},
        {"content": operations, "headers": {"content-type": " multipart/form-data; boundary=x"}},
        {"content": operations, "headers": {"content-type": "Multipart/Form-Data; boundary=x"}},
        {"content": "query=" + mutation, "headers": {"content-type": "application/x-www-form-urlencoded"}},
        {"content": operations, "headers": {"content-type": "text/plain"}},
    ]
    for request in forged:
        response = await api.http.post("/graphql", **request)
        assert response.status_code == 403, request
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.http.post("/graphql", json={"query": mutation})).status_code == 200


def test_public_error_masks_unexpected_exceptions(caplog):
    # given
    try:
        raise RuntimeError("SELECT secret FROM keys")
    except RuntimeError as exc:
        error = GraphQLError("SELECT secret FROM keys", original_error=exc, path=["me"])
    # when
    with caplog.at_level(logging.ERROR, logger="kms.graphql"):
        public = public_error(error, "req-123")
    # then
    assert public.message == "Internal error."
    assert public.extensions == {"code": "INTERNAL", "requestId": "req-123"}
    assert public.path == ["me"]
    [record] = [r for r in caplog.records if r.name == "kms.graphql"]
    assert "req-123" in record.getMessage() and record.exc_info[0] is RuntimeError


def test_public_error_keeps_codes_of_expected_errors():
    known = public_error(GraphQLError("x", original_error=NotFound("Device")), "r")
    assert (known.message, known.extensions) == ("Device not found.", {"code": "NOT_FOUND"})
    deep = public_error(GraphQLError("'q' exceeds maximum operation depth of 3"), "r")
    assert deep.extensions == {"code": "QUERY_TOO_COMPLEX"}
    invalid = public_error(GraphQLError("Unknown argument 'frist'. Did you mean 'first'?"), "r")
    assert (invalid.message, invalid.extensions) == ("Unknown argument 'frist'.", {"code": "BAD_USER_INPUT"})


async def test_unexpected_server_error_is_internal_with_the_logged_request_id(as_user, caplog):
    # given: the database refuses audit rows, which no resolver expects
    api = await as_user("keys_a")
    # when
    with caplog.at_level(logging.ERROR, logger="kms.graphql"):
        async with audit_inserts_fail():
            response = await api.http.post("/graphql", json={"query": CREATE_TOKEN})
    # then
    assert response.status_code == 200
    [error] = response.json()["errors"]
    request_id = response.headers["x-request-id"]
    assert error["message"] == "Internal error."
    assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    assert "audit store" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.name == "kms.graphql" and request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite writes one transaction at a time: no deadlock")
async def test_a_request_that_loses_a_deadlock_is_a_conflict_and_changes_nothing(as_user, world, settings, caplog):
    from tests.test_batches import seed
    from tests.test_devices import CLAIM

    # given: another transaction holds the second of two devices (a claim locks them in id order), and its
    # deadlock check waits longer than the service's, so the service's transaction is the one rolled back
    await seed(as_user, world, serials=("DL1", "DL2"))
    first, second = sorted(await Device.filter(serial_number__in=["DL1", "DL2"]).values_list("id", flat=True))
    other = await asyncpg.connect(settings.database_url)
    keys_a = await as_user("keys_a")
    try:
        # (the claim locks in the order its plan visits the rows: in id order through the index, in the table's
        # order by a scan; a new version of the second row puts it after the first in the table too)
        await other.execute("UPDATE devices SET claimed_at = NULL WHERE id = $1", second)
        in_table = "SELECT id FROM devices WHERE id = ANY($1::uuid[]) ORDER BY ctid"
        assert [r["id"] for r in await other.fetch(in_table, [first, second])] == [first, second]
        await other.execute("SET deadlock_timeout = '30s'")
        transaction = other.transaction()
        await transaction.start()
        await other.execute("UPDATE devices SET claimed_at = NULL WHERE id = $1", second)
        # when: the claim takes the first device and waits for the second, and the other takes the first
        with caplog.at_level(logging.WARNING, logger="kms.graphql"):
            claim = asyncio.create_task(keys_a.post(CLAIM, {"ids": [str(first), str(second)]}))
            # (only a backend blocked by this one holds the first device: any other may wait for anything)
            waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted AND $1 = ANY(pg_blocking_pids(pid))"
            while not claim.done() and not await other.fetchval(waiting, other.get_server_pid()):
                await asyncio.sleep(0.01)
            await other.execute("UPDATE devices SET claimed_at = NULL WHERE id = $1", first)
            response = await asyncio.wait_for(claim, timeout=60)
        await transaction.rollback()
    finally:
        await other.close()
    # then: a conflict the caller may retry, nothing claimed, and a warning without a stack trace
    [error] = response["errors"]
    assert error["extensions"]["code"] == "CONFLICT" and "try again" in error["message"]
    assert await Device.filter(serial_number__in=["DL1", "DL2"], claim_status="UNCLAIMED").count() == 2
    [record] = [r for r in caplog.records if r.name == "kms.graphql"]
    assert record.levelno == logging.WARNING and "40P01" in record.getMessage() and record.exc_info is None


# --- HTTP -----------------------------------------------------------------------------------------


async def test_health_and_ready(client, world):
    api = client()
    health = await api.http.get("/health")
    ready = await api.http.get("/ready")
    assert (health.status_code, health.json()) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


@pytest.mark.skipif(TEST_DB != "postgres", reason="an open SQLite file cannot be taken away from its server")
async def test_a_server_that_loses_its_database_is_alive_but_not_ready(settings, tmp_path):
    import os
    import signal

    import httpx

    from tests.conftest import PG_ADMIN_URL
    from tests.test_crash_safety import free_port, start_server
    from tests.test_db import kms_migrate

    # given: `kms serve` on a database of its own
    name = f"kms_test_ready_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    own = replace(settings, database_url=PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", data_dir=tmp_path)
    process = None
    try:
        assert (await kms_migrate(own.database_url, tmp_path))[0] == 0
        port = free_port()
        process = await start_server(own, port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/ready")).status_code == 200
            # when: the database goes away under it
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            ready, health = await http.get("/ready"), await http.get("/health")
        # then: a balancer takes it out of rotation, and it says no more than that
        assert (ready.status_code, ready.json()) == (503, {"status": "database unavailable"})
        assert (health.status_code, health.json()) == (200, {"status": "alive"})
    finally:
        if process is not None and process.returncode is None:
            os.killpg(process.pid, signal.SIGTERM)
            await process.wait()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def directives(csp: str) -> dict[str, list[str]]:
    parts = (d.strip().split() for d in csp.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


@pytest.mark.parametrize(
    "path", ["/health", "/ready", "/graphql?query=%7B__typename%7D", "/console/assets/graphiql.js", "/nowhere"]
)
async def test_security_headers_on_every_response(client, world, path):
    response = await client().http.get(path)
    csp = directives(response.headers["content-security-policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert not any("unsafe" in v for values in csp.values() for v in values)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_every_response_gets_its_own_request_id(client, world):
    api = client()
    ids = {(await api.http.get("/health")).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


async def test_queries_via_get_but_no_mutations(as_user):
    api = await as_user("keys_a")
    ok = await api.http.get("/graphql", params={"query": "{ me { email } }"})
    assert ok.json()["data"]["me"]["email"] == "keys_a@example.com"
    refused = await api.http.get("/graphql", params={"query": CREATE_TOKEN})
    assert refused.status_code == 400 and "not allowed" in refused.text
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await ApiToken.all().count() == 0


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (b"{not json", "Unable to parse request body as JSON"),
        (b'{"query": 42}', "must be a string"),
        (b'{"query": "{ me { email } }", "variables": [1]}', "must be an object"),
        (b'[{"query": "{ me { email } }"}]', "Batching is not enabled"),
        (b'{"variables": {}}', "No GraphQL query found in the request"),
    ],
)
async def test_json_bodies_that_are_not_one_operation_get_400(as_user, body, answer):
    # given a logged-in caller (the JSON path answers POSTs of one operation itself, the rest strawberry)
    api = await as_user("keys_a")
    # when
    response = await api.http.post("/graphql", content=body, headers={"content-type": "application/json"})
    # then: a GraphQL error with a code (errors.md), not plain text
    assert response.status_code == 400 and answer in response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_body_over_the_limit_is_refused_before_it_is_read_whole(settings, world):
    # given: a server that takes bodies of up to 64 KiB
    small = app_module.create_app(replace(settings, max_body_bytes=64 * 1024), manage_database=False)
    query = "mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { claimedCount } }"
    body = json.dumps({"query": query, "variables": {"ids": ["x" * 60] * 2000}}).encode()
    chunks: list[bytes] = []

    async def chunked():  # no Content-Length: the limit is found while reading
        for start in range(0, len(body), 16 * 1024):
            chunks.append(body[start : start + 16 * 1024])
            yield chunks[-1]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small), base_url="http://testserver") as http:
        for content in (body, chunked()):
            chunks.clear()
            # when
            response = await http.post("/graphql", content=content, headers={"content-type": "application/json"})
            # then
            assert response.status_code == 413
            assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert sum(map(len, chunks)) <= 80 * 1024  # read no further than the limit and one chunk


async def test_a_json_post_answers_data_errors_and_cookies(client, world):
    api = client()
    # a query and a coded error in one answer
    response = await api.http.post("/graphql", json={"query": "{ me { email } users { totalCount } }"})
    assert response.status_code == 200

    assert response.json()["data"] is None or response.json()["data"]["me"] is None
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # two operations: the name picks one
    two = "query A { __typename } query B { me { email } }"
    for name, data in (("A", {"__typename": "Query"}), ("B", {"me": None})):
        assert (await api.http.post("/graphql", json={"query": two, "operationName": name})).json() == {"data": data}
    # a mutation sets the session cookie of its context's response
    login = await api.http.post(
        "/graphql",
        json={
            "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { user { email } } }",
            "variables": {"e": "keys_a@example.com", "p": PASSWORD},
        },
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert login.json()["data"]["login"]["user"]["email"] == "keys_a@example.com"
    assert "kms_session=" in login.headers["set-cookie"]


# --- GraphiQL -------------------------------------------------------------------------------------


async def graphiql(api):
    return await api.http.get("/graphql", headers={"Accept": "text/html"})


async def test_graphiql_needs_a_login(client, world):
    response = await graphiql(client())
    assert response.status_code == 401 and "<script" not in response.text


@pytest.mark.parametrize("key", ["keys_a", "viewer_a"])
async def test_graphiql_is_refused_below_admins(as_user, key):
    response = await graphiql(await as_user(key))
    assert response.status_code == 403 and "<script" not in response.text


@pytest.mark.parametrize("key", ["admin_a", "platform_admin"])
async def test_graphiql_is_served_from_local_assets(as_user, key):
    # when
    response = await graphiql(await as_user(key))
    # then
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/console/assets/") for s in sources), sources
    assert "/console/assets/graphiql.js" in page
    assert not re.search(r"https?://", page)
    nonce = re.search(r"'nonce-([^']+)'", response.headers["content-security-policy"])[1]
    assert page.count(f'nonce="{nonce}"') == 5  # the stylesheet and four scripts
    assert "<script>" not in page  # no inline script


async def test_graphiql_assets_are_served(client, world):
    api = client()
    js = await api.http.get("/console/assets/graphiql.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and "GraphiQL" in js.text
    css = await api.http.get("/console/assets/graphiql.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await api.http.get("/console/assets/package.json")).status_code == 404
    assert (await api.http.get("/console/assets/..%2Fpackage.json")).status_code == 404


# --- the schema file and the contract -------------------------------------------------------------


def test_committed_schema_is_up_to_date(settings):
    built = build_schema(settings).as_str() + "\n"
    committed = (ROOT / "schema.graphql").read_text()
    assert built == committed, "schema.graphql is out of date: regenerate it with `make schema` and commit it"


def test_schema_breaks_the_contract_only_where_features_are_missing():
    # given
    contract = build_sdl(CONTRACT.read_text())
    project = build_sdl((ROOT / "schema.graphql").read_text())
    # when
    changes = find_breaking_changes(contract, project)
    # then
    types, fields, other = set(), set(), []
    for change in changes:
        field = re.fullmatch(r"Field ((?:Query|Mutation)\.\w+) was removed\.", change.description)
        removed_type = re.fullmatch(r"(\w+) was removed\.", change.description)
        if change.type.name == "FIELD_REMOVED" and field:
            fields.add(field[1])
        elif change.type.name == "TYPE_REMOVED" and removed_type:
            types.add(removed_type[1])
        else:
            other.append(f"{change.type.name}: {change.description}")
    assert other == [], "breaking changes to the contract"
    assert types - NOT_YET_TYPES == set(), "types of the contract removed"
    assert fields - NOT_YET_ROOT_FIELDS == set(), "root fields of the contract removed"
    assert NOT_YET_TYPES - types == set(), "implemented now: remove these from NOT_YET_TYPES"
    assert NOT_YET_ROOT_FIELDS - fields == set(), "implemented now: remove these from NOT_YET_ROOT_FIELDS"


async def test_lists_in_variables_are_capped(as_user, settings):
    api = await as_user("admin_a")
    too_many = ["x"] * (settings.max_list_argument + 1)
    error = await api.error(
        "query($s: [String!]) { devices(filter: {serialNumbers: $s}) { totalCount } }", {"s": too_many}
    )
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    fine = await api.ok(
        "query($s: [String!]) { devices(filter: {serialNumbers: $s}) { totalCount } }", {"s": too_many[:1000]}
    )
    assert fine["devices"]["totalCount"] == 0
    capped = await api.error(
        "query($s: [String!]) { devices(filter: {serialNumbers: $s}) { totalCount } }", {"s": too_many[:10_001]}
    )
    assert capped["extensions"] == {"code": "BAD_USER_INPUT", "field": "serialNumbers"}


# --- plans of one-root-field queries (schema/plans.py) -------------------------------------------------

PAGE = """query Page($f: DeviceFilter, $first: Int, $after: String) {
  devices(filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id serialNumber claimStatus labels deviceType { name } batchReference { reference } }
  }
}"""


def _plans(app):
    (graphql,) = [route.endpoint for route in app.routes if getattr(route, "path", None) == "/graphql"]
    return graphql.plans


async def _seed_catalog(as_user, world):
    from tests.test_devices import import_rows, lora

    platform = await as_user("platform_admin")
    rows = [lora(f"PL{i}", f"70B3D5E75E00A0{i:02}") for i in range(5)]
    await import_rows(platform, world.orgs["customer_a"].id, rows)
    await import_rows(platform, world.orgs["customer_b"].id, [lora("PLB", "70B3D5E75E00A0FF")])


async def test_a_planned_query_answers_as_strawberry_does(app, as_user, world, monkeypatch):
    # given: the catalog page answered once by strawberry's path, which plans it
    await _seed_catalog(as_user, world)
    plans, admin_a = _plans(app), await as_user("admin_a")
    await admin_a.ok(PAGE, {"first": 2})
    assert plans.planned(PAGE, None)
    first = await admin_a.ok(PAGE, {"first": 2})
    variables = [
        {},
        {"first": 2, "after": first["devices"]["pageInfo"]["endCursor"]},
        {"f": {"claimStatus": "UNCLAIMED", "search": "pl"}, "first": 3},
        {"f": {"serialNumbers": ["PL1", "PL3", "PLB"]}},
    ]
    for given in variables:
        # when: once without plans, once with
        expected, planned, by_plan = await _both_ways(plans, admin_a, given, monkeypatch)
        # then: the plan answered, and the same
        assert by_plan == 1
        assert planned == expected and not planned.get("errors")
    # and another organisation's page from the same plan holds only its own devices
    answered = plans.answered
    theirs = await (await as_user("admin_b")).ok(PAGE, {})
    assert plans.answered == answered + 1
    assert [n["serialNumber"] for n in theirs["devices"]["nodes"]] == ["PLB"]


async def _both_ways(plans, api, variables, monkeypatch):
    """PAGE's answer without plans, its answer with them, and how many requests a plan answered (0 or 1)."""

    async def no_plan(*args, **kwargs):
        return None

    with monkeypatch.context() as off:
        off.setattr(plans, "execute", no_plan)
        expected = await api.post(PAGE, variables)
    answered = plans.answered
    got = await api.post(PAGE, variables)
    return expected, got, plans.answered - answered


def _without_request_ids(body):
    for error in body.get("errors") or []:
        error.get("extensions", {}).pop("requestId", None)
    return body


async def test_a_planned_query_leaves_every_error_to_strawberry(app, as_user, client, world, settings, monkeypatch):
    # given
    await _seed_catalog(as_user, world)
    plans, admin_a = _plans(app), await as_user("admin_a")
    await admin_a.ok(PAGE, {"first": 1})
    failing = [
        {"first": "two"},  # does not coerce
        {"first": -1},  # refused by the resolver
        {"after": "not a cursor"},
        {"f": {"serialNumbers": ["x"] * (settings.max_list_argument + 1)}},  # over the list limit
    ]
    codes = []
    for given in failing:
        # when
        expected, got, by_plan = await _both_ways(plans, admin_a, given, monkeypatch)
        # then: strawberry's answer, not the plan's
        assert got["errors"] and _without_request_ids(got) == _without_request_ids(expected)
        assert by_plan == 0
        codes.append(got["errors"][0]["extensions"]["code"])
    assert codes == ["BAD_USER_INPUT", "BAD_USER_INPUT", "BAD_USER_INPUT", "QUERY_TOO_COMPLEX"]
    # and nobody logged in gets the plan's data
    anonymous = client()
    answered = plans.answered
    assert await anonymous.code(PAGE, {}) == "UNAUTHENTICATED"
    assert plans.answered == answered


async def test_a_planned_query_over_the_cost_limit_is_refused(app, as_user, world):
    # given: a catalog query with pages within pages, planned after a small first answer
    await _seed_catalog(as_user, world)
    plans, admin_a = _plans(app), await as_user("admin_a")
    nested = """query N($n: Int, $m: Int) { devices(first: $n) {
      nodes { batchReference { devices(first: $m) { nodes { id } } } } } }"""
    await admin_a.ok(nested, {"n": 1, "m": 1})
    await admin_a.ok(nested, {"n": 1, "m": 1})
    answered = plans.answered
    # when: the same text asks for 500 pages of 500
    code = await admin_a.code(nested, {"n": 500, "m": 500})
    # then: refused by strawberry's path, the plan never ran it
    assert code == "QUERY_TOO_COMPLEX" and plans.answered == answered


async def test_only_successful_queries_of_one_leased_root_field_are_planned(app, as_user, client, world):
    plans, admin_a = _plans(app), await as_user("admin_a")
    two_fields = "query Two { devices(first: 1) { totalCount } deviceTypes { name } }"
    other_field = "query Other { deviceTypes { name } }"
    with_directive = "query D($x: Boolean!) { devices(first: 1) @include(if: $x) { totalCount } }"
    never_answered = "query Never { devices(first: 1) { totalCount } }"
    for query in (two_fields, other_field):
        await admin_a.ok(query)
    await admin_a.ok(with_directive, {"x": True})
    mutation = 'mutation M { setDeviceLabels(deviceIds: [], labels: ["x"]) { id } }'
    await admin_a.post(mutation)
    assert await client().code(never_answered) == "UNAUTHENTICATED"
    for query in (two_fields, other_field, with_directive, mutation, never_answered):
        assert not plans.planned(query, None) and not plans.planned(query, query.split()[1].split("(")[0])


# --- bulk requests and the cyclic garbage collector (app.cyclic_gc_paused) -----------------------------


def test_overlapping_pauses_of_the_cyclic_collector_end_with_the_last():
    assert gc.isenabled()
    with app_module.cyclic_gc_paused():
        with app_module.cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first bulk request still runs
    assert gc.isenabled()
    gc.disable()  # a collector disabled by someone else stays so
    try:
        with app_module.cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


async def test_a_bulk_request_runs_without_cyclic_collections_and_a_small_one_with_them(as_user, monkeypatch):
    """A claim of 12,000 unknown ids (a body of ~480 KB) creates tens of thousands of containers: with the
    collector paused no collection starts while the app handles it; with the threshold above its size, some
    do. (The collections the pause saved run once it ends.)"""
    api = await as_user("keys_a")
    ids = [str(uuid.uuid4()) for _ in range(12_000)]
    query = "mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { claimedCount refused { reason } } }"
    collections: list[int] = []

    handling = app_module.KmsGraphQL._handle.__code__

    def count(phase: str, info: dict[str, int]) -> None:
        frame = sys._getframe(1)
        while frame is not None and frame.f_code is not handling:
            frame = frame.f_back
        if phase == "start" and frame is not None:  # started inside the app's handling of the request
            collections.append(info["generation"])

    async def claim() -> int:
        collections.clear()
        gc.callbacks.append(count)
        try:
            result = await api.ok(query, {"ids": ids})
        finally:
            gc.callbacks.remove(count)
        assert result["claimDevices"]["claimedCount"] == 0
        assert {r["reason"] for r in result["claimDevices"]["refused"]} == {"DEVICE_NOT_FOUND"}
        return len(collections)

    assert await claim() == 0
    assert gc.isenabled()
    monkeypatch.setattr(app_module, "BULK_BODY_BYTES", 10 * 1024 * 1024)
    assert await claim() > 0


async def test_a_client_that_announces_a_large_body_and_stalls_does_not_pause_the_collector(app, world):
    # given: an anonymous request that announces 300 KB and sends nothing
    waiting = asyncio.Event()

    async def receive():
        waiting.set()
        await asyncio.Event().wait()  # the body never comes

    async def send(message):
        raise AssertionError(f"nothing is answered before the body: {message}")

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), (b"content-length", b"300000")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    request = asyncio.create_task(app(scope, receive, send))
    try:
        await asyncio.wait_for(waiting.wait(), 5)
        # then: while it waits, everybody else's requests still run with the collector
        assert gc.isenabled()
    finally:
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)
    assert gc.isenabled()
