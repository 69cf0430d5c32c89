"""A minimal Starlette + asyncpg endpoint serving the catalog page that bench/catalog.py measures, as plain JSON.

It is the yardstick for the GraphQL server's CPU time per request: the same statements (as captured from the ORM
by ``bench/catalog.py --show-sql``), no ORM, no GraphQL, the standard library's JSON. Served by bench/catalog.py as::

    uvicorn plain_catalog:app --app-dir bench --workers 2 --host 127.0.0.1 --port N

``GET /catalog?org=<uuid>&status=UNCLAIMED&first=50&after=<cursor>&total=1&batched=1`` with the ``kms_session``
cookie of a logged-in user answers what the GraphQL query answers. By default it runs exactly the ORM's statements:
the session with its user and organisation, the page, the labels of the page, then one statement per device that
has a batch reference (what ``Device.batchReference`` does today) and the per-organisation totals when ``total=1``. With
``batched=1`` the batch references of the page come from one statement instead (the N+1 fixed).

Settings from the environment: ``PLAIN_DATABASE_URL`` (loopback), ``PLAIN_POOL_MIN`` (1) and ``PLAIN_POOL_MAX`` (5),
tortoise's defaults for its asyncpg pool.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from resolvers import auth as auth_resolvers
from resolvers.keystore import registry
from settings import load

# The ORM's statements for this page, as captured by bench/catalog.py --show-sql (tortoise-orm 1.1.9, subtree
# filters as byte ranges on "C"-collated paths); catalog.py compares them with the ORM's at every run.
# The session lookup is hand-written in the service too (resolvers/auth.py): the same statement here.
SESSION_SQL = auth_resolvers._SESSION_STATEMENT["postgres"]
DEVICE_COLUMNS = (
    '"claimed_at","id","serial_number","created_at","owner_path","attributes","owner_id","claim_status",'
    '"device_type","batch_id"'
)
PAGE_SQL = (
    f'SELECT {DEVICE_COLUMNS} FROM "devices" '
    'WHERE "owner_path">=$1 AND "owner_path"<$2 AND "claim_status"=$3 AND "owner_id" IN ($4) AND "serial_number">$5 '
    'ORDER BY "serial_number" ASC LIMIT $6'
)
FIRST_PAGE_SQL = (
    f'SELECT {DEVICE_COLUMNS} FROM "devices" '
    'WHERE "owner_path">=$1 AND "owner_path"<$2 AND "claim_status"=$3 AND "owner_id" IN ($4) '
    'ORDER BY "serial_number" ASC LIMIT $5'
)
TOTALS_SQL = (  # totalCount from the per-organisation counts kept by triggers (migration 0005)
    'SELECT "device_counts"."n" "0" FROM "device_counts" LEFT OUTER JOIN "organisations" "device_counts__owner" '
    'ON "device_counts__owner"."id"="device_counts"."owner_id" WHERE "device_counts__owner"."path">=$1 '
    'AND "device_counts__owner"."path"<$2 AND "device_counts"."owner_id" IN ($3) AND "device_counts"."claim_status"=$4'
)
LABELS_SQL = 'SELECT "device_id" "0","label" "1" FROM "device_labels" WHERE "device_id" IN ({}) ORDER BY "label" ASC'
BATCH_COLUMNS = (
    '"batch_references"."reference","batch_references"."accepted_at","batch_references"."id",'
    '"batch_references"."organisation_id","batch_references"."created_at","batch_references"."device_count",'
    '"batch_references"."sender_id","batch_references"."requires_confirmation","batch_references"."label",'
    '"batch_references"."state"'
)
_BATCH_FROM = (
    'FROM "batch_references" '
    'LEFT OUTER JOIN "organisations" "batch_references__organisation" '
    'ON "batch_references__organisation"."id"="batch_references"."organisation_id" '
    'LEFT OUTER JOIN "organisations" "batch_references__sender" '
    'ON "batch_references__sender"."id"="batch_references"."sender_id" '
    'WHERE (("batch_references__organisation"."path">=$1 AND "batch_references__organisation"."path"<$2) '
    'OR ("batch_references__sender"."path">=$3 AND "batch_references__sender"."path"<$4)) '
)
BATCH_SQL = (  # one per device, as Device.batchReference resolves today
    f"SELECT {BATCH_COLUMNS} {_BATCH_FROM}"
    'AND "batch_references"."id"=$5 ORDER BY "batch_references"."created_at" DESC,"batch_references"."id" ASC '
    "LIMIT $6"
)
BATCHES_SQL = (  # the batch references of a whole page at once (not an ORM statement: the N+1 fixed)
    f'SELECT {BATCH_COLUMNS} {_BATCH_FROM}AND "batch_references"."id" = ANY($5::uuid[])'
)
ORM_STATEMENTS = (SESSION_SQL, PAGE_SQL, FIRST_PAGE_SQL, TOTALS_SQL, LABELS_SQL.format("$1"), BATCH_SQL)
SESSION_COOKIE = "kms_session"
IDLE = timedelta(seconds=load().session_idle_seconds)

_pool: asyncpg.Pool | None = None
_type_names: dict[str, str] = {}


def _decode(cursor: str) -> str:
    values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return str(values[0])


def _encode(serial: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([serial]).encode()).decode().rstrip("=")


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)


async def catalog(request: Request) -> Response:
    assert _pool is not None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return _error("log in", 401)
    params = request.query_params
    first = int(params.get("first", "50"))
    status = params.get("status", "UNCLAIMED")
    org = UUID(params["org"])
    after = params.get("after")
    async with _pool.acquire() as conn:
        session = await conn.fetchrow(SESSION_SQL, hashlib.sha256(cookie.encode()).hexdigest())
        now = datetime.now(UTC)
        if (
            session is None
            or now >= session["expires_at"]
            or now >= session["last_seen_at"] + IDLE
            or not session["is_active"]
            or ",PLATFORM_ADMIN," in session["roles"]  # not served here: no subtree filter
        ):
            return _error("log in", 401)
        # Like the GraphQL server for a caller below the platform: the subtree as a byte range of paths.
        low = session["path"]
        high = low[:-1] + "0"
        if after:
            rows = await conn.fetch(PAGE_SQL, low, high, status, org, _decode(after), first + 1)
        else:
            rows = await conn.fetch(FIRST_PAGE_SQL, low, high, status, org, first + 1)
        has_next = len(rows) > first
        rows = rows[:first]
        ids = [r["id"] for r in rows]
        labels: dict[UUID, list[str]] = {i: [] for i in ids}
        if ids:
            marks = ",".join(f"${n}" for n in range(1, len(ids) + 1))
            for device_id, label in await conn.fetch(LABELS_SQL.format(marks), *ids):
                labels[device_id].append(label)
        batches: dict[UUID, str] = {}
        if params.get("batched") == "1":
            batch_ids = list(dict.fromkeys(r["batch_id"] for r in rows if r["batch_id"]))
            for row in await conn.fetch(BATCHES_SQL, low, high, low, high, batch_ids):
                batches[row["id"]] = row["reference"]
        else:
            for row in rows:
                if row["batch_id"]:
                    found = await conn.fetchrow(BATCH_SQL, low, high, low, high, row["batch_id"], 2)
                    if found is not None:
                        batches[found["id"]] = found["reference"]
        total = None
        if params.get("total") == "1":
            total = sum(n for (n,) in await conn.fetch(TOTALS_SQL, low, high, org, status))
    nodes: list[dict[str, Any]] = [
        {
            "id": str(r["id"]),
            "serialNumber": r["serial_number"],
            "deviceType": {"name": _type_names.get(r["device_type"], r["device_type"])},
            "claimStatus": r["claim_status"],
            "labels": labels[r["id"]],
            "batchReference": {"reference": batches[r["batch_id"]]} if r["batch_id"] in batches else None,
        }
        for r in rows
    ]
    connection: dict[str, Any] = {
        "nodes": nodes,
        "pageInfo": {"endCursor": _encode(rows[-1]["serial_number"]) if rows else None, "hasNextPage": has_next},
    }
    if total is not None:
        connection["totalCount"] = total
    return JSONResponse({"data": {"devices": connection}})


async def ready(request: Request) -> Response:
    assert _pool is not None
    async with _pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    return JSONResponse({"status": "ready"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global _pool
    _type_names.update({t.id: t.name for t in registry(load().plugins).device_types()})
    _pool = await asyncpg.create_pool(
        os.environ["PLAIN_DATABASE_URL"],
        min_size=int(os.environ.get("PLAIN_POOL_MIN", "1")),
        max_size=int(os.environ.get("PLAIN_POOL_MAX", "5")),
    )
    try:
        yield
    finally:
        await _pool.close()


app = Starlette(routes=[Route("/catalog", catalog), Route("/ready", ready)], lifespan=lifespan)
