"""Bench of the device catalog at a million devices: catalog pages, facets, a batch of 100,000 and a claim.

Prints figures; it is not a test. Run it from the repository root (``make bench-catalog``)::

    .venv/bin/python bench/catalog.py [--devices 1000000] [--requests 400] [--batch 100000]
    .venv/bin/python bench/catalog.py --devices 40000 --requests 60 --batch 5000   # a quick check

It creates a fresh PostgreSQL database (``kms_bench_catalog``, dropped at the end), migrates it with
``kms migrate``, creates a platform organisation with 20 customer organisations below it and a few users with
the ORM, seeds ``--devices`` devices over the 20 organisations with COPY (labels on a quarter of them, batch
references on 40 %), runs VACUUM ANALYZE, then, with ``kms serve --workers 2`` and, beside it, the plain
Starlette + asyncpg endpoint of bench/plain_catalog.py (2 uvicorn workers, the same pool size):

1. the catalog page the console sends (50 devices of one organisation and claim status after a cursor, with
   type, claim status, labels and batch reference), as that organisation's OTC_ADMIN, with and without
   ``totalCount``, at 1 and 16 concurrent clients: requests per second, latency percentiles and the CPU time
   the server's worker processes and the PostgreSQL backends spend per request (from /proc);
2. ``deviceFacets`` as PLATFORM_ADMIN and as the organisation's OTC_ADMIN;
3. ``createBatchReference`` with a CSV file of ``--batch`` serial numbers (multipart upload), then
   ``claimDevices`` of those devices by the receiving organisation's KEY_MANAGER.

``--show-sql`` prints the statements the service runs for one catalog page and ``--explain`` their plans
(EXPLAIN ANALYZE); ``--profile DIR`` records the GraphQL workers with py-spy during an extra run.

Everything listens on loopback only; every loop is bounded; the servers (their whole process groups) are
stopped and the database dropped even on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
from keys import DEVICE_COLUMNS as KEYS_DEVICE_COLUMNS
from keys import (
    PASSWORD,
    ROOT,
    Api,
    Report,
    Server,
    add_pg_url,
    database_url,
    drop_database,
    kms_command,
    machine,
    recreate_database,
    serving,
)

ORGANISATIONS = 20
LABELS = ["Building A", "Building B", "Building C", "Floor 1", "Floor 2", "Route 7", "Route 12", "Spare"]
BATCHES_PER_ORG = 5
CLK_TCK = os.sysconf("SC_CLK_TCK")

CATALOG = """query Catalog($filter: DeviceFilter, $first: Int, $after: String) {
  devices(filter: $filter, first: $first, after: $after) {
    nodes { id serialNumber deviceType { name } claimStatus labels batchReference { reference } }
    pageInfo { endCursor hasNextPage }%s
  }
}"""
FACETS = """query Facets($filter: DeviceFilter) {
  deviceFacets(filter: $filter) {
    deviceTypes { value count } claimStatuses { value count } labels { value count } batchReferences { value count }
  }
}"""
CREATE_BATCH = """mutation Batch($input: CreateBatchReferenceInput!) {
  createBatchReference(input: $input) { batchReference { id reference deviceCount state } refused { reason } }
}"""
CLAIM = """mutation Claim($ids: [ID!]!) {
  claimDevices(deviceIds: $ids) { claimedCount refused { serialNumber reason } }
}"""


@dataclass(frozen=True)
class Org:
    id: uuid.UUID
    path: str


@dataclass
class World:
    platform: Org
    orgs: list[Org]
    emails: dict[str, str]  # role of the bench -> email


# --- set-up --------------------------------------------------------------------------------------------


async def create_world(url: str) -> World:
    """The platform with its PLATFORM_ADMIN, 20 customer organisations below it, the catalog organisation's
    OTC_ADMIN and the receiving organisation's KEY_MANAGER."""
    from models import db
    from models.organisations import Organisation
    from resolvers.demo import create_user

    await db.init(url)
    try:
        pid = uuid.uuid4()
        platform = await Organisation.create(
            id=pid, name="Bench Platform", path=f"/{pid}/", can_create_organisations=True
        )
        orgs = []
        for n in range(ORGANISATIONS):
            oid = uuid.uuid4()
            await Organisation.create(id=oid, name=f"Customer {n:02d}", parent=platform, path=f"{platform.path}{oid}/")
            orgs.append(Org(oid, f"{platform.path}{oid}/"))
        emails = {
            "platform": "platform@catalog.example",
            "catalog": "admin-00@catalog.example",
            "receiver": "keys-01@catalog.example",
        }
        await create_user("Platform", emails["platform"], platform, ["PLATFORM_ADMIN"], PASSWORD, must_change=False)
        org0 = await Organisation.get(id=orgs[0].id)
        await create_user("Admin 00", emails["catalog"], org0, ["OTC_ADMIN"], PASSWORD, must_change=False)
        org1 = await Organisation.get(id=orgs[1].id)
        await create_user("Keys 01", emails["receiver"], org1, ["KEY_MANAGER"], PASSWORD, must_change=False)
        return World(Org(pid, platform.path), orgs, emails)
    finally:
        await db.close()


def _device_types() -> list[tuple[str, str]]:
    from resolvers.keystore import registry
    from settings import load

    return [
        (t.id, str(t.radio.value if hasattr(t.radio, "value") else t.radio))
        for t in registry(load().plugins).device_types()
    ]


# keys.py seeds claimed devices with these columns; the catalog's devices also carry their batch
DEVICE_COLUMNS = [*KEYS_DEVICE_COLUMNS, "batch_id"]


async def seed(url: str, world: World, count: int, chunk: int = 100_000) -> dict[str, Any]:
    """``count`` devices over the organisations, interleaved in serial order (device n belongs to organisation
    n % 20); 30 % CLAIMED; 40 % in one of 5 batch references of their organisation; a quarter labelled, a
    twelfth with a second label. All with COPY, then VACUUM ANALYZE and a CHECKPOINT."""
    from resolvers.devices import BATCH_COLUMNS  # the service's own column list for batch_references

    started = time.perf_counter()
    types = _device_types()
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url)
    try:
        batches: list[list[uuid.UUID]] = []
        batch_rows = []
        for o, org in enumerate(world.orgs):
            ids = [uuid.uuid4() for _ in range(BATCHES_PER_ORG)]
            batches.append(ids)
            for b, bid in enumerate(ids):
                batch_rows.append(
                    (bid, now, f"LOT-{o:02d}-{b}", None, org.id, world.platform.id, False, "ACCEPTED", 0, now)
                )
        await conn.copy_records_to_table(
            "batch_references",
            records=batch_rows,
            columns=list(BATCH_COLUMNS),
        )
        labels = 0
        for start in range(0, count, chunk):
            devices, device_labels = [], []
            for n in range(start, min(count, start + chunk)):
                o, k = n % ORGANISATIONS, n // ORGANISATIONS
                org = world.orgs[o]
                device_type, radio = types[k % len(types)]
                if radio == "LORAWAN":
                    attributes = f'{{"devEui": "{n:016X}", "joinEui": "0000000000000000", "lorawanVersion": "1.0.3"}}'
                else:
                    attributes = f'{{"manufacturer": "IMA", "mbusId": "{n % 10**8:08d}", "medium": "water"}}'
                claimed = k % 10 < 3
                batch = batches[o][(k // 10) % BATCHES_PER_ORG] if k % 5 < 2 else None
                device_id = uuid.uuid4()
                devices.append(
                    (
                        device_id,
                        now,
                        f"KM{n:08d}",
                        device_type,
                        org.id,
                        org.path,
                        "CLAIMED" if claimed else "UNCLAIMED",
                        now if claimed else None,
                        attributes,
                        batch,
                    )
                )
                if k % 4 == 0:
                    device_labels.append((uuid.uuid4(), now, device_id, LABELS[(k // 4) % len(LABELS)]))
                if k % 12 == 0:
                    device_labels.append((uuid.uuid4(), now, device_id, "Priority"))
            labels += len(device_labels)
            async with conn.transaction():
                await conn.copy_records_to_table("devices", records=devices, columns=DEVICE_COLUMNS)
                await conn.copy_records_to_table(
                    "device_labels", records=device_labels, columns=["id", "created_at", "device_id", "label"]
                )
        await conn.execute(
            "UPDATE batch_references b SET device_count = c.n FROM "
            "(SELECT batch_id, count(*) n FROM devices WHERE batch_id IS NOT NULL GROUP BY batch_id) c "
            "WHERE c.batch_id = b.id"
        )
        seeded = time.perf_counter() - started
        await conn.execute("VACUUM (ANALYZE) devices")
        await conn.execute("VACUUM (ANALYZE) device_labels")
        await conn.execute("VACUUM (ANALYZE) batch_references")
        # the seeding's gigabyte of WAL started a checkpoint that would otherwise spread its writes over the
        # next minute, the phases measured next included
        await conn.execute("CHECKPOINT")
        matching = await conn.fetchval(
            "SELECT count(*) FROM devices WHERE owner_id = $1 AND claim_status = 'UNCLAIMED'", world.orgs[0].id
        )
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('devices'))")
    finally:
        await conn.close()
    return {
        "seconds": seeded,
        "vacuum_seconds": time.perf_counter() - started - seeded,
        "labels": labels,
        "matching": matching,
        "size": size,
    }


def seeded_database(
    admin_url: str, name: str, devices: int, env: dict[str, str]
) -> tuple[dict[str, str], World, dict[str, Any]]:
    """A new database ``name`` (dropped first if it exists; the caller drops it at the end), migrated by
    ``kms migrate`` with ``env``, with the world and ``devices`` devices: the machine table, the world and
    seed()'s figures."""
    info = machine(asyncio.run(recreate_database(admin_url, name)))
    subprocess.run([*kms_command(), "migrate"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    url = database_url(admin_url, name)
    world = asyncio.run(create_world(url))
    print(f"seeding {devices:,} devices over {ORGANISATIONS} organisations with COPY ...", flush=True)
    return info, world, asyncio.run(seed(url, world, devices))


# --- load generation and CPU accounting ----------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted after the command name


def machine_busy_ticks() -> int:
    """Busy clock ticks of the whole machine (all CPUs), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4]  # minus idle and iowait


async def backend_pids(admin_url: str, database: str) -> list[int]:
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
        return [int(r["pid"]) for r in rows]
    finally:
        await conn.close()


@dataclass
class Run:
    name: str
    requests: int
    concurrency: int
    seconds: float
    latencies: list[float]
    server_cpu: float  # seconds, the server's worker processes
    pg_cpu: float  # seconds, the database's backends
    client_cpu: float  # seconds, this process
    other_cpu: float  # seconds, everything else on the machine: other work skews the figures
    statuses: Counter[int]

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))] * 1000

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def server_ms(self) -> float:
        return self.server_cpu / self.requests * 1000

    @property
    def pg_ms(self) -> float:
        return self.pg_cpu / self.requests * 1000


def combined(runs: list[Run]) -> Run:
    """Rounds of one setting as one run: requests, times and CPU summed, latencies pooled."""
    first = runs[0]
    statuses: Counter[int] = Counter()
    for run in runs:
        statuses.update(run.statuses)
    return Run(
        first.name,
        sum(r.requests for r in runs),
        first.concurrency,
        sum(r.seconds for r in runs),
        [latency for r in runs for latency in r.latencies],
        sum(r.server_cpu for r in runs),
        sum(r.pg_cpu for r in runs),
        sum(r.client_cpu for r in runs),
        sum(r.other_cpu for r in runs),
        statuses,
    )


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = b""
    for _ in range(100_000):  # chunked; bounded
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            break
        body += chunk[:-2]
    return status, body


def http_request(port: int, method: str, path: str, cookie: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: kms_session={cookie}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _load(port: int, request: bytes, requests: int, concurrency: int) -> tuple[list[float], Counter[int], bytes]:
    """``requests`` copies of one pre-encoded request over ``concurrency`` keep-alive connections."""
    remaining = requests
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    sample = b""

    async def client() -> None:
        nonlocal remaining, sample
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                writer.write(request)
                status, body = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                statuses[status if b'"errors"' not in body else -status] += 1
                if not sample:
                    sample = body
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, statuses, sample


def measure(
    name: str,
    port: int,
    request: bytes,
    requests: int,
    concurrency: int,
    workers: list[int],
    admin_url: str,
    database: str,
) -> tuple[Run, bytes]:
    """Warm up at the same concurrency (so the pools have their connections), then measure."""
    asyncio.run(_load(port, request, max(2 * concurrency, 10), concurrency))
    backends = asyncio.run(backend_pids(admin_url, database))
    server_before = {p: cpu_ticks(p) for p in workers}
    pg_before = {p: cpu_ticks(p) for p in backends}
    client_before = time.process_time()
    busy_before = machine_busy_ticks()
    started = time.perf_counter()
    latencies, statuses, sample = asyncio.run(_load(port, request, requests, concurrency))
    seconds = time.perf_counter() - started
    client_cpu = time.process_time() - client_before
    busy = (machine_busy_ticks() - busy_before) / CLK_TCK
    server = sum(cpu_ticks(p) - server_before[p] for p in workers) / CLK_TCK
    after = asyncio.run(backend_pids(admin_url, database))
    pg = sum(cpu_ticks(p) - pg_before.get(p, 0) for p in after) / CLK_TCK
    other = max(0.0, busy - server - pg - client_cpu)
    run = Run(name, requests, concurrency, seconds, latencies, server, pg, client_cpu, other, statuses)
    bad = sum(n for s, n in statuses.items() if s != 200)
    print(
        f"  {name:44} c={concurrency:<2} {run.rps:7.1f} req/s  p50 {run.pct(50):7.2f}  p95 {run.pct(95):7.2f}  "
        f"p99 {run.pct(99):7.2f} ms  server {run.server_ms:6.2f} ms CPU/req  pg {run.pg_ms:5.2f} ms/req"
        + (f"  {bad} FAILED" if bad else ""),
        flush=True,
    )
    if bad:
        raise RuntimeError(f"{name}: {bad} failed requests, e.g. {sample[:500]!r}")
    return run, sample


# --- the plain endpoint --------------------------------------------------------------------------------


class PlainServer(Server):
    """bench/plain_catalog.py under uvicorn with the same number of workers."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "plain_catalog:app",
            "--app-dir",
            str(ROOT / "bench"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
        ]


@contextmanager
def plain_serving(env: dict[str, str], log_dir: Path) -> Iterator[Server]:
    server = PlainServer(env, log_dir)
    try:
        server.start()
        yield server
    except BaseException:
        print(f"--- plain server log (tail) ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()


# --- the SQL the service runs --------------------------------------------------------------------------


@contextmanager
def asyncpg_statements() -> Iterator[list[tuple[str, list[Any]]]]:
    """Every statement asyncpg runs with arguments or results (fetch, fetchrow, fetchval, execute with arguments)
    in this process while inside, with its values: the ORM's and the hand-written ones alike."""
    statements: list[tuple[str, list[Any]]] = []
    connection_class = asyncpg.connection.Connection
    original = connection_class._execute

    async def _execute(self: Any, query: str, args: Any, *rest: Any, **kwargs: Any) -> Any:
        statements.append((query, list(args)))
        return await original(self, query, args, *rest, **kwargs)

    connection_class._execute = _execute  # type: ignore[method-assign]
    try:
        yield statements
    finally:
        connection_class._execute = original  # type: ignore[method-assign]


async def capture_sql(env: dict[str, str], cookie: str, bodies: list[dict[str, Any]]) -> list[list[tuple[str, Any]]]:
    """The statements each GraphQL request runs, with the app served in this process."""
    from app import create_app
    from models import db
    from settings import load

    await db.init(env["KMS_DATABASE_URL"])
    captured = []
    try:
        app = create_app(load(), manage_database=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            headers = {"cookie": f"kms_session={cookie}"}
            for body in bodies:
                await client.post("/graphql", json=body, headers=headers)  # warm: the session touch, caches
                with asyncpg_statements() as statements:
                    response = await client.post("/graphql", json=body, headers=headers)
                if response.json().get("errors"):
                    raise RuntimeError(f"capture: {response.text[:500]}")
                captured.append(statements)
    finally:
        await db.close()
    return captured


async def capture_plain_sql(cookie: str, query: dict[str, Any]) -> list[tuple[str, Any]]:
    """The statements the plain endpoint runs for one request, served in this process."""
    import plain_catalog

    async with plain_catalog.lifespan(plain_catalog.app):
        transport = httpx.ASGITransport(app=plain_catalog.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            headers = {"cookie": f"kms_session={cookie}"}
            await client.get("/catalog", params=query, headers=headers)
            with asyncpg_statements() as statements:
                response = await client.get("/catalog", params=query, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"plain capture: {response.text[:500]}")
    return statements


def normalised(sql: str) -> str:
    return re.sub(r"\s+", " ", sql.strip())


def compare_with_plain(statements: list[tuple[str, Any]], plain: list[tuple[str, Any]]) -> list[str]:
    """Where the GraphQL server's statements (in order, with their values) differ from the plain endpoint's
    (empty: the same SQL)."""
    ours = [(normalised(sql), values) for sql, values in statements]
    theirs = [(normalised(sql), values) for sql, values in plain]
    if ours == theirs:
        return []
    return [f"GraphQL: {sql} {values}" for sql, values in ours if (sql, values) not in theirs] + [
        f"plain: {sql} {values}" for sql, values in theirs if (sql, values) not in ours
    ] or ["the same statements in another order"]


def _shape(sql: str) -> str:
    return re.sub(r"\s+", " ", sql)[:140]


async def explain(url: str, statements: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each distinct statement shape, with its captured values."""
    out: list[str] = []
    seen: set[str] = set()
    conn = await asyncpg.connect(url)
    try:
        for sql, values in statements:
            key = normalised(sql)
            if key in seen or not sql.lstrip().upper().startswith("SELECT"):
                continue
            seen.add(key)
            plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *(values or []))
            out.append(f"-- {_shape(sql)}\n" + "\n".join(r[0] for r in plan))
    finally:
        await conn.close()
    return out


# --- the phases ----------------------------------------------------------------------------------------


def gql_body(org: Org, after: str | None, total: bool) -> dict[str, Any]:
    return {
        "query": CATALOG % ("\n    totalCount" if total else ""),
        "variables": {
            "filter": {"organisationIds": [str(org.id)], "claimStatus": "UNCLAIMED"},
            "first": 50,
            "after": after,
        },
    }


def plain_params(org: Org, after: str | None, total: bool) -> dict[str, Any]:
    """The plain endpoint's query string for the page gql_body asks for."""
    query: dict[str, Any] = {"org": str(org.id), "status": "UNCLAIMED", "first": 50}
    query |= {"after": after} if after else {}
    return query | ({"total": "1"} if total else {})


def check_same_page(graphql: bytes, plain: bytes, total: bool) -> None:
    """The plain endpoint must answer what GraphQL answers, or the comparison means nothing."""
    a, b = json.loads(graphql)["data"]["devices"], json.loads(plain)["data"]["devices"]
    if a["nodes"] != b["nodes"] or a["pageInfo"] != b["pageInfo"] or (total and a["totalCount"] != b["totalCount"]):
        raise RuntimeError(f"the plain endpoint answers differently:\n{json.dumps(a)[:600]}\n{json.dumps(b)[:600]}")


@dataclass
class Ctx:
    args: argparse.Namespace
    env: dict[str, str]
    tmp: Path
    world: World
    report: Report
    runs: list[Run]


def phase_catalog(ctx: Ctx, server: Server, plain: Server) -> None:
    args, world = ctx.args, ctx.world
    api = Api(server.base)
    try:
        api.login(world.emails["catalog"])
        cookie = str(api.client.cookies.get("kms_session"))
        first_page = api.gql(
            gql_body(world.orgs[0], None, False)["query"], gql_body(world.orgs[0], None, False)["variables"]
        )
        cursor = first_page["devices"]["pageInfo"]["endCursor"]
    finally:
        api.close()
    bodies = [gql_body(world.orgs[0], cursor, True), {"query": FACETS, "variables": {"filter": None}}]
    statements, facet_statements = asyncio.run(capture_sql(ctx.env, cookie, bodies))
    kinds = Counter("+".join(dict.fromkeys(re.findall(r'(?:FROM|JOIN) "?(\w+)', sql))) for sql, _ in statements)
    ctx.report.notes.append(
        f"the service runs {len(statements)} statements for one catalog page with totalCount: "
        + ", ".join(f"{n} on {table}" for table, n in kinds.items())
    )
    plain_query = plain_params(world.orgs[0], cursor, True)
    differences = compare_with_plain(statements, asyncio.run(capture_plain_sql(cookie, plain_query)))
    ctx.report.notes.append(
        "the plain endpoint runs the service's statements with the same values (checked)"
        if not differences
        else "the plain endpoint's SQL differs from the service's now: " + " | ".join(d[:600] for d in differences)
    )
    if args.show_sql or args.explain:
        print(f"\n-- the service's statements for one catalog page with totalCount: {len(statements)}")
        for sql, values in statements:
            print(f"{sql}\n   values: {values}")
        print(f"\n-- the statements for deviceFacets of one organisation: {len(facet_statements)}")
        for sql, values in facet_statements:
            print(f"{sql}\n   values: {values}")
        if args.explain:
            url = ctx.env["KMS_DATABASE_URL"]
            platform_facets = [(re.sub(r" WHERE .*? GROUP BY", " GROUP BY", sql), []) for sql, _ in facet_statements]
            plans = asyncio.run(explain(url, statements + facet_statements))
            plans += asyncio.run(explain(url, [s for s in platform_facets if "$" not in s[0]]))
            for plan in plans:
                print(f"\n{plan}")
        print(flush=True)
    settings = []
    for concurrency in args.concurrency:
        for total in (False, True):
            settings.append((concurrency, total))
    database = args.database
    for concurrency, total in settings:
        body = json.dumps(gql_body(world.orgs[0], cursor, total)).encode()
        graphql_request = http_request(server.port, "POST", "/graphql", cookie, body)
        query = plain_params(world.orgs[0], cursor, total)
        plain_request = http_request(plain.port, "GET", f"/catalog?{urlencode(query)}", cookie)
        sides = [
            (f"GraphQL devices{' + totalCount' if total else ''}", server, graphql_request),
            (f"plain{' + count' if total else ''}", plain, plain_request),
        ]
        # The two sides take turns, round by round: a machine whose speed drifts (a shared virtual machine)
        # then slows both alike, and each side's figure is the sum of its rounds.
        rounds: dict[str, list[Run]] = {name: [] for name, _, _ in sides}
        samples: dict[str, bytes] = {}
        per_round = max(1, args.requests // args.rounds)
        for _ in range(args.rounds):
            for name, target, request in sides:
                run, samples[name] = measure(
                    name, target.port, request, per_round, concurrency, target.worker_pids(), args.pg_url, database
                )
                rounds[name].append(run)
        for name, _, _ in sides:
            ctx.runs.append(combined(rounds[name]))
        check_same_page(samples[sides[0][0]], samples[sides[1][0]], total)
    if args.profile:
        profile(ctx, server, cookie, cursor)


def profile(ctx: Ctx, server: Server, cookie: str, cursor: str) -> None:
    """py-spy on both GraphQL workers during an extra 16-client run with totalCount (not a figure)."""
    out = Path(ctx.args.profile)
    out.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    body = json.dumps(gql_body(ctx.world.orgs[0], cursor, True)).encode()
    request = http_request(server.port, "POST", "/graphql", cookie, body)
    procs = []
    for pid in server.worker_pids():
        path = out / f"graphql-{pid}.txt"
        procs.append(
            subprocess.Popen(
                [
                    str(spy),
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--rate",
                    "250",
                    "--duration",
                    "60",
                    "--nonblocking",
                    "--output",
                    str(path),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        time.sleep(1.5)
        asyncio.run(_load(server.port, request, ctx.args.requests * 2, 16))
    finally:
        for proc in procs:
            proc.send_signal(2)  # SIGINT: py-spy writes what it has and stops
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"  py-spy profiles (raw collapsed stacks) in {out}", flush=True)


class CpuMeter:
    """CPU seconds the server's workers and the database's backends spend inside a ``with`` block: on a
    shared machine wall-clock time follows the other load, CPU time much less."""

    def __init__(self, ctx: Ctx, server: Server) -> None:
        self.admin_url, self.database, self.server = ctx.args.pg_url, ctx.args.database, server
        self.server_cpu = self.pg_cpu = 0.0

    def __enter__(self) -> CpuMeter:
        self.workers = self.server.worker_pids()
        self.server_before = {p: cpu_ticks(p) for p in self.workers}
        self.pg_before = {p: cpu_ticks(p) for p in asyncio.run(backend_pids(self.admin_url, self.database))}
        return self

    def __exit__(self, *exc: object) -> None:
        self.server_cpu = sum(cpu_ticks(p) - self.server_before[p] for p in self.workers) / CLK_TCK
        after = asyncio.run(backend_pids(self.admin_url, self.database))
        self.pg_cpu = sum(cpu_ticks(p) - self.pg_before.get(p, 0) for p in after) / CLK_TCK

    def note(self, what: str, per: int = 1) -> str:
        return (
            f"{what}: CPU {self.server_cpu / per * 1000:,.0f} ms server + {self.pg_cpu / per * 1000:,.0f} ms "
            "PostgreSQL backends"
        )


def timed_gql(api: Api, query: str, variables: dict[str, Any], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        api.gql(query, variables)
        times.append((time.perf_counter() - started) * 1000)
    return times


def phase_facets(ctx: Ctx, server: Server) -> None:
    world, report = ctx.world, ctx.report
    for who, flt in (
        ("platform", None),
        ("catalog", None),
        ("catalog", {"claimStatus": "UNCLAIMED", "organisationIds": [str(world.orgs[0].id)]}),
    ):
        api = Api(server.base)
        try:
            api.login(world.emails[who])
            variables = {"filter": flt}
            result = api.gql(FACETS, variables)["deviceFacets"]
            timed_gql(api, FACETS, variables, 2)  # warm
            with CpuMeter(ctx, server) as cpu:
                times = sorted(timed_gql(api, FACETS, variables, ctx.args.facet_runs))
        finally:
            api.close()
        devices = sum(f["count"] for f in result["claimStatuses"])
        label = {"platform": "PLATFORM_ADMIN", "catalog": "one organisation's OTC_ADMIN"}[who]
        label += ", UNCLAIMED of the organisation" if flt else ""
        report.add(f"deviceFacets, {label} ({devices:,} devices): median", times[len(times) // 2], "ms", 100.0)
        report.notes.append(
            f"deviceFacets, {label}: min {times[0]:.0f} ms, max {times[-1]:.0f} ms over {len(times)} sequential calls; "
            + cpu.note("per call", len(times))
        )


def phase_batch_and_claim(ctx: Ctx, server: Server) -> None:
    args, world, report = ctx.args, ctx.world, ctx.report
    serials = asyncio.run(_batch_serials(ctx.env["KMS_DATABASE_URL"], world, args.batch))
    csv_path = ctx.tmp / "serials.csv"
    csv_path.write_text("serial_number\n" + "\n".join(serials) + "\n")
    admin = Api(server.base)
    try:
        admin.login(world.emails["platform"])
        operations = {
            "query": CREATE_BATCH,
            "variables": {"input": {"reference": "BENCH-100K", "organisationId": str(world.orgs[1].id), "file": None}},
        }
        with csv_path.open("rb") as upload, CpuMeter(ctx, server) as batch_cpu:
            started = time.perf_counter()
            response = admin.client.post(
                "/graphql",
                data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
                files={"0": ("serials.csv", upload, "text/csv")},
                headers={"X-KMS-CSRF": "1"},
            )
            seconds = time.perf_counter() - started
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"createBatchReference: {json.dumps(body['errors'])[:1000]}")
        batch = body["data"]["createBatchReference"]["batchReference"]
        if batch["deviceCount"] != len(serials):
            raise RuntimeError(f"batch of {batch['deviceCount']} devices, {len(serials)} sent")
        report.add(
            f"createBatchReference, CSV upload of {len(serials):,} serials ({csv_path.stat().st_size:,} bytes)",
            seconds,
            "s",
            2.0,
        )
        report.notes.append(batch_cpu.note(f"createBatchReference of {len(serials):,}"))
    finally:
        admin.close()
    ids = asyncio.run(_batch_device_ids(ctx.env["KMS_DATABASE_URL"], batch["id"]))
    keys = Api(server.base)
    try:
        keys.login(world.emails["receiver"])
        with CpuMeter(ctx, server) as claim_cpu:
            started = time.perf_counter()
            claim = keys.gql(CLAIM, {"ids": ids})["claimDevices"]
            seconds = time.perf_counter() - started
        report.notes.append(claim_cpu.note(f"claimDevices of {len(ids):,}"))
    finally:
        keys.close()
    if claim["claimedCount"] != len(ids):
        raise RuntimeError(f"claimed {claim['claimedCount']} of {len(ids)}: {claim['refused'][:5]}")
    stored = asyncio.run(_batch_claimed(ctx.env["KMS_DATABASE_URL"], batch["id"]))
    if stored != len(ids):
        raise RuntimeError(f"{stored} of the batch's {len(ids)} devices are CLAIMED in the database")
    report.add(f"claimDevices, {len(ids):,} ids in one call", seconds, "s", 2.0)


async def _batch_serials(url: str, world: World, count: int) -> list[str]:
    """Serials of the organisations other than the catalog's and the receiver's, claimed or not."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT serial_number FROM devices WHERE owner_id <> ALL($1::uuid[]) ORDER BY serial_number LIMIT $2",
            [world.orgs[0].id, world.orgs[1].id],
            count,
        )
    finally:
        await conn.close()
    return [r[0] for r in rows]


async def _batch_device_ids(url: str, batch_id: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id FROM devices WHERE batch_id = $1", uuid.UUID(batch_id))
    finally:
        await conn.close()
    return [str(r[0]) for r in rows]


async def _batch_claimed(url: str, batch_id: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM devices WHERE batch_id = $1 AND claim_status = 'CLAIMED'", uuid.UUID(batch_id)
            )
        )
    finally:
        await conn.close()


# --- the report ----------------------------------------------------------------------------------------


def report_runs(ctx: Ctx) -> None:
    report, runs = ctx.report, ctx.runs
    by = {(r.name, r.concurrency): r for r in runs}
    for concurrency in ctx.args.concurrency:
        for total in (False, True):
            gql = by[(f"GraphQL devices{' + totalCount' if total else ''}", concurrency)]
            plain = by[(f"plain{' + count' if total else ''}", concurrency)]
            what = f"{'with' if total else 'without'} totalCount, {concurrency} client{'s' if concurrency > 1 else ''}"
            report.add(f"GraphQL/plain server CPU per request, {what}", gql.server_ms / plain.server_ms, "x", 2.0)
        without = by[("GraphQL devices", concurrency)]
        with_total = by[("GraphQL devices + totalCount", concurrency)]
        clients = f"{concurrency} client{'s' if concurrency > 1 else ''}"
        report.add(
            f"GraphQL cost with/without totalCount (server + PostgreSQL CPU), {clients}",
            (with_total.server_ms + with_total.pg_ms) / (without.server_ms + without.pg_ms),
            "x",
            1.5,
        )
        report.add(
            f"GraphQL p50 latency with/without totalCount, {clients}",
            with_total.pct(50) / without.pct(50),
            "x",
            1.5,
        )


def print_runs(runs: list[Run]) -> None:
    print(
        f"\n{'catalog page (50 devices after a cursor)':46} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'server CPU':>11} {'PG CPU':>9} {'client CPU':>10} {'other CPU':>10}"
    )
    for r in runs:
        print(
            f"{r.name:46} {r.concurrency:>7} {r.rps:8.1f} {r.pct(50):8.2f} {r.pct(95):8.2f} {r.pct(99):8.2f} "
            f"{r.server_ms:8.2f} ms {r.pg_ms:6.2f} ms {r.client_cpu / r.requests * 1000:7.2f} ms "
            f"{r.other_cpu / r.seconds * 100:8.0f} %"
        )
    print(
        "(CPU columns: milliseconds per request; server = utime+stime of the 2 uvicorn workers, PG = the database's\n"
        " backends, client = this load generator; other CPU = the rest of the machine's busy time during the run\n"
        " (PostgreSQL's parallel workers included), in % of one CPU: much above 0, something else was running)"
    )


def print_table(info: dict[str, str], report: Report, runs: list[Run]) -> None:
    print("\n== Meter KMS catalog bench ==")
    for name, value in info.items():
        print(f"{name:12} {value}")
    if runs:
        print_runs(runs)
    width = max((len(f.name) for f in report.figures), default=10)
    print(f"\n{'figure':{width}}  {'measured':>14}  {'target':>10}  result")
    for f in report.figures:
        value = "-" if f.value is None else f"{f.value:,.2f} {f.unit}"
        target = "" if f.target is None else f"{'<=' if f.unit == 'x' else '<'} {f.target:g} {f.unit}"
        verdict = (
            f.verdict() if f.unit != "x" else ("ok" if f.value is not None and f.value <= (f.target or 0) else "MISSED")
        )
        print(f"{f.name:{width}}  {value:>14}  {target:>10}  {verdict if f.target is not None else ''}")
    for note in report.notes:
        print(f"- {note}")


# --- main ----------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=1_000_000, help="devices seeded over 20 organisations")
    parser.add_argument("--requests", type=int, default=2000, help="measured catalog requests per setting and side")
    parser.add_argument("--rounds", type=int, default=5, help="the sides take turns, requests/rounds at a time")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16], help="concurrent clients")
    parser.add_argument("--facet-runs", type=int, default=15, help="sequential deviceFacets calls per caller")
    parser.add_argument("--batch", type=int, default=100_000, help="serials of the batch, then claimed")
    parser.add_argument("--show-sql", action="store_true", help="print the service's statements for one page")
    parser.add_argument("--explain", action="store_true", help="and EXPLAIN ANALYZE them and the facets")
    parser.add_argument(
        "--skip-catalog", action="store_true", help="only facets, batch and claim (no catalog pages, no plain endpoint)"
    )
    parser.add_argument("--profile", metavar="DIR", help="py-spy the GraphQL workers during an extra run")
    add_pg_url(parser)
    parser.add_argument(
        "--database", default="kms_bench_catalog", help="created, then dropped (must start with kms_bench)"
    )
    args = parser.parse_args()
    if not re.fullmatch(r"kms_bench\w*", args.database):
        parser.error("--database must start with kms_bench: the bench drops it")
    if args.devices < 2 * ORGANISATIONS * 50 or not 0 < args.batch <= 100_000:
        parser.error("--devices must be at least 2,000 and --batch between 1 and 100,000")
    if not 0 < args.rounds <= args.requests <= 100_000 or not all(0 < c <= 64 for c in args.concurrency):
        parser.error("--requests must be 1-100,000 (at least --rounds) and --concurrency 1-64")
    return args


def run(args: argparse.Namespace, tmp: Path, report: Report, runs: list[Run]) -> dict[str, str]:
    url = database_url(args.pg_url, args.database)
    env = {
        **os.environ,
        "KMS_DATABASE_URL": url,
        "PLAIN_DATABASE_URL": url,
        "KMS_DATA_DIR": str(tmp / "data"),
        "KMS_MAIL_WORKER": "off",
        "KMS_LOG_LEVEL": "WARNING",
        "KMS_KEK_PROVIDER": "file",
        "KMS_KEK_FILE": "",
    }
    os.environ.update(env)
    info, world, seeded = seeded_database(args.pg_url, args.database, args.devices, env)
    report.notes.append(
        f"seeded {args.devices:,} devices and {seeded['labels']:,} labels with COPY in {seeded['seconds']:.1f} s, "
        f"VACUUM ANALYZE {seeded['vacuum_seconds']:.1f} s; devices table {seeded['size']} with indexes; "
        f"the catalog organisation has {seeded['matching']:,} UNCLAIMED devices (the totalCount)"
    )
    ctx = Ctx(args, env, tmp, world, report, runs)
    with ExitStack() as stack:
        server = stack.enter_context(serving(env, tmp))
        if not args.skip_catalog:
            plain = stack.enter_context(plain_serving(env, tmp))
            print(f"kms serve on {server.base}, plain endpoint on {plain.base}; {args.requests} requests per setting")
            phase_catalog(ctx, server, plain)
            report_runs(ctx)
        phase_facets(ctx, server)
        phase_batch_and_claim(ctx, server)
    return info


def main() -> int:
    args = parse_args()
    report = Report()
    runs: list[Run] = []
    info: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="kms-bench-catalog-") as tmp:
        try:
            info = run(args, Path(tmp), report, runs)
        finally:
            asyncio.run(drop_database(args.pg_url, args.database))
            print_table(info, report, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
