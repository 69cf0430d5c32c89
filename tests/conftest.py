"""Fixtures: a migrated database (SQLite or PostgreSQL, chosen by KMS_TEST_DB), the ASGI app, HTTP
clients that keep cookies, and factories for organisations and users."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tortoise import connections

from app import create_app
from crypto import passwords
from models import db
from models.email_templates import EmailTemplate
from models.organisations import Organisation, Partnership
from models.users import User
from resolvers.email_rendering import SYSTEM_TEMPLATES
from resolvers.keystore import Sealed, keystore, open_key_store, share
from settings import Settings

PASSWORD = "Correct-Horse-42!x"
TEST_DB = os.environ.get("KMS_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("KMS_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
# Emptied after every test, children first. System email templates (seeded by a migration) stay.
TABLES = [
    "key_release_parts",
    "key_releases",
    "device_keys",
    "kek_versions",
    "shared_server_secrets",
    "device_labels",
    "devices",
    "device_counts",  # after devices: deleting devices fires the counting triggers
    "batch_references",
    "audit_events",
    "sessions",
    "rate_limits",
    "api_tokens",
    "outbox",
    "account_tokens",
    "invites",
    "partnerships",
    "users",
    "organisations",
]


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A fresh, migrated database for the whole run. PostgreSQL must answer: no skipping."""
    if TEST_DB == "sqlite":
        url = f"sqlite://{tmp_path_factory.mktemp('db') / 'kms.sqlite3'}"
        await db.migrate(url)
        yield url
        return
    assert TEST_DB == "postgres", f"KMS_TEST_DB must be sqlite or postgres, not {TEST_DB}"
    name = f"kms_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await db.migrate(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    s = Settings(data_dir=data_dir, database_url=database_url)
    await db.init(database_url)
    await open_key_store(s)  # as a server does when it starts: the first KEK
    yield s
    await db.close()


@pytest.fixture(autouse=True)
async def stuck_tasks_are_shown(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[None]:
    """A test still running shortly before pytest-timeout fails it (pyproject.toml) prints where each asyncio
    task waits, and on PostgreSQL what every session of the test database does: the timeout alone would only
    show the event loop idling in select()."""
    timeout = float(request.config.getini("timeout") or 0)

    async def sessions() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            for row in await conn.fetch(
                "SELECT pid, state, wait_event_type, wait_event, pg_blocking_pids(pid) AS blocked_by, xact_start, "
                "left(query, 200) AS query FROM pg_stat_activity WHERE datname = current_database()"
            ):
                print(dict(row), file=sys.stderr)
        finally:
            await conn.close()

    pending: set[asyncio.Task[None]] = set()

    def show() -> None:
        print(f"--- {request.node.nodeid} still runs; its asyncio tasks wait here:", file=sys.stderr)
        for task in asyncio.all_tasks():
            task.print_stack(file=sys.stderr)
        if database_url.startswith("postgres"):
            pending.add(asyncio.ensure_future(sessions()))

    handle = asyncio.get_running_loop().call_later(timeout * 0.8, show) if timeout else None
    yield
    if handle is not None:
        handle.cancel()


@pytest.fixture(autouse=True)
async def clean_db(settings: Settings) -> AsyncIterator[None]:
    """Every test starts from empty tables."""
    yield
    conn = connections.get("default")
    await conn.execute_script("DELETE FROM email_templates WHERE is_system = false")
    await conn.execute_script("UPDATE email_templates SET active = true WHERE is_system = true")
    if db.dialect() == "postgres":
        await _truncate(settings)
        # TRUNCATE ... CASCADE empties email_templates too (it references organisations).
        await reseed_system_templates()
    else:
        # roots then, each with a name of its own (no two organisations under one parent share a name)
        await conn.execute_script("UPDATE organisations SET parent_id = NULL, name = id")
        for table in TABLES:
            await conn.execute_script(f"DELETE FROM {table}")
    # The registry of KEK versions went with the tables: register the session's key file again, as a server
    # does when it starts (imports refuse a KEK version the servers have not registered).
    try:
        await share(keystore(settings))
    except Sealed:
        pass  # a test left the key file away: the next one that needs it fails and says so


async def _truncate(settings: Settings) -> None:
    """Empty the tables, or fail naming the sessions that hold them: a transaction a test left open would
    otherwise keep TRUNCATE (and the whole run) waiting for ever."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '30s'")
            await conn.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
    except asyncpg.LockNotAvailableError:
        holders = await conn.fetch(
            "SELECT pid, state, xact_start, left(query, 200) AS query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
        pytest.fail(f"a test left a transaction open; TRUNCATE waited 30 s for: {[dict(h) for h in holders]}")
    finally:
        await conn.close()


async def reseed_system_templates() -> None:
    """Put back the 20 system templates that migration 0002 seeds, if they are gone."""
    if await EmailTemplate.filter(is_system=True).count() == len(SYSTEM_TEMPLATES):
        return
    await EmailTemplate.filter(is_system=True).delete()
    for t in SYSTEM_TEMPLATES:
        await EmailTemplate.create(
            name=t.name,
            type=t.type,
            language=t.language,
            subject=t.subject,
            body=t.body,
            active=True,
            is_system=True,
            organisation_id=None,
        )


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One real argon2id hash of PASSWORD, computed once (hashing is deliberately slow)."""
    return passwords.hash_password_sync(PASSWORD)


@pytest.fixture(scope="session")
def app(settings: Settings) -> Any:
    return create_app(settings, manage_database=False)


class Api:
    """An HTTP client of the GraphQL endpoint that keeps its cookies, like a browser."""

    def __init__(self, app: Any, base_url: str = "http://testserver", headers: dict[str, str] | None = None):
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, headers=headers or {})

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.status_code == 200, response.text
        return response.json()

    async def ok(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Data of a request that must succeed."""
        body = await self.post(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first error of a request that must fail; its extensions carry the code."""
        body = await self.post(query, variables)
        assert body.get("errors"), body
        return body["errors"][0]

    async def code(self, query: str, variables: dict[str, Any] | None = None) -> str:
        return (await self.error(query, variables))["extensions"]["code"]

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        return await self.ok(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { mustChangePassword user { id } } }",
            {"e": email, "p": password},
        )


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    """A factory of fresh clients: `api = client()`; closed at the end of the test."""
    made: list[Api] = []

    def factory(**kwargs: Any) -> Api:
        api = Api(app, **kwargs)
        made.append(api)
        return api

    yield factory
    for api in made:
        await api.http.aclose()


async def make_org(name: str, parent: Organisation | None = None, *, can_create: bool = False) -> Organisation:
    oid = uuid.uuid4()
    return await Organisation.create(
        id=oid,
        name=name,
        parent=parent,
        can_create_organisations=can_create,
        path=f"{parent.path if parent else '/'}{oid}/",
    )


@dataclass
class World:
    """Two customers below a platform organisation, plus an unrelated partner organisation.

    platform (IntegraDemo) -> customer_a -> customer_a_sub ; platform -> customer_b ; partner (own tree)
    """

    password_hash: str
    orgs: dict[str, Organisation] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    async def user(self, key: str, org: str, roles: list[str], *, must_change: bool = False) -> User:
        user = await User.create(
            name=key.replace("_", " ").title(),
            email=f"{key}@example.com",
            organisation=self.orgs[org],
            roles=User.encode_roles(roles),
            password_hash=self.password_hash,
            must_change_password=must_change,
        )
        self.users[key] = user
        return user


@pytest.fixture
async def world(password_hash: str) -> World:
    w = World(password_hash)
    w.orgs["platform"] = await make_org("IntegraDemo", can_create=True)
    w.orgs["customer_a"] = await make_org("Customer A", w.orgs["platform"], can_create=True)
    w.orgs["customer_a_sub"] = await make_org("Customer A Sub", w.orgs["customer_a"])
    w.orgs["customer_b"] = await make_org("Customer B", w.orgs["platform"])
    w.orgs["partner"] = await make_org("Partner P")
    await Partnership.create(organisation=w.orgs["customer_a"], partner=w.orgs["partner"])
    await w.user("platform_admin", "platform", ["PLATFORM_ADMIN"])
    await w.user("admin_a", "customer_a", ["OTC_ADMIN"])
    await w.user("keys_a", "customer_a", ["KEY_MANAGER"])
    await w.user("viewer_a", "customer_a", ["VIEWER"])
    await w.user("admin_a_sub", "customer_a_sub", ["OTC_ADMIN"])
    await w.user("admin_b", "customer_b", ["OTC_ADMIN"])
    await w.user("keys_b", "customer_b", ["KEY_MANAGER"])
    await w.user("partner_admin", "partner", ["OTC_ADMIN"])
    return w


@pytest.fixture
async def as_user(client: Any, world: World) -> Any:
    """`api = await as_user("admin_a")`: a client logged in as one of the world's users."""

    async def login(key: str) -> Api:
        api = client()
        await api.login(world.users[key].email)
        return api

    return login
