"""A minimal Starlette + asyncpg endpoint serving the catalog page that bench/catalog.py measures, as plain JSON.

It is the yardstick for the GraphQL server's CPU time per request: the same statements with the same values (the
bench captures what asyncpg runs for both at every run and compares them), no ORM, no GraphQL, the standard
library's JSON. Served by bench/catalog.py as::

    uvicorn plain_catalog:app --app-dir bench --workers 2 --host 127.0.0.1 --port N

``GET /catalog?org=<uuid>&status=UNCLAIMED&first=50&after=<cursor>&total=1`` with the ``kms_session`` cookie of a
logged-in user answers what the GraphQL query answers. It runs the service's statements for that page on
PostgreSQL: the session with its user and organisation, the page, the labels of the page, the batch references of
the page (one statement) and the per-organisation totals when ``total=1``.

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

# The service's statements for this page on PostgreSQL, written out (catalog.py checks at every run that the
# GraphQL server runs exactly these, with the same values). The session lookup is the service's own constant.
SESSION_SQL = auth_resolvers._SESSION_STATEMENT["postgres"]
_COLUMNS = "id, serial_number, device_type, owner_id, claim_status, claimed_at, created_at, batch_id"
_ORGANISATIONS = "owner_path = ANY(ARRAY(SELECT path FROM organisations WHERE id = ANY($4::uuid[])))"
PAGE_SQL = (
    f"SELECT {_COLUMNS} FROM devices WHERE owner_path >= $1 AND owner_path < $2 AND claim_status = $3 "
    f"AND {_ORGANISATIONS} AND serial_number > $5 ORDER BY serial_number LIMIT $6"
)
FIRST_PAGE_SQL = (
    f"SELECT {_COLUMNS} FROM devices WHERE owner_path >= $1 AND owner_path < $2 AND claim_status = $3 "
    f"AND {_ORGANISATIONS} ORDER BY serial_number LIMIT $5"
)
LABELS_SQL = "SELECT device_id, label FROM device_labels WHERE device_id = ANY($1::uuid[]) ORDER BY label"
BATCHES_SQL = (
    "SELECT b.id, b.created_at, b.reference, b.label, b.organisation_id, b.sender_id, b.requires_confirmation, "
    "b.state, b.device_count, b.accepted_at FROM batch_references b WHERE b.id = ANY($1::uuid[]) AND "
    "EXISTS (SELECT 1 FROM organisations o WHERE o.id IN (b.organisation_id, b.sender_id) "
    "AND o.path >= $2 AND o.path < $3)"
)
TOTALS_SQL = (  # totalCount from the per-organisation counts kept by triggers (migration 0005)
    "SELECT COALESCE(sum(c.n), 0)::bigint FROM device_counts c WHERE c.owner_id IN "
    "(SELECT id FROM organisations WHERE path >= $1 AND path < $2) AND c.owner_id = ANY($3::uuid[]) "
    "AND c.claim_status = $4"
)
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
        owners = [org]
        if after:
            rows = await conn.fetch(PAGE_SQL, low, high, status, owners, _decode(after), first + 1)
        else:
            rows = await conn.fetch(FIRST_PAGE_SQL, low, high, status, owners, first + 1)
        has_next = len(rows) > first
        rows = rows[:first]
        total = None  # the service's totalCount runs before the DataLoaders' batched labels and batches
        if params.get("total") == "1":
            total = await conn.fetchval(TOTALS_SQL, low, high, owners, status)
        ids = [r["id"] for r in rows]
        labels: dict[UUID, list[str]] = {i: [] for i in ids}
        batches: dict[UUID, str] = {}
        if ids:
            for device_id, label in await conn.fetch(LABELS_SQL, ids):
                labels[device_id].append(label)
            batch_ids = list(dict.fromkeys(r["batch_id"] for r in rows if r["batch_id"] is not None))
            if batch_ids:
                for row in await conn.fetch(BATCHES_SQL, batch_ids, low, high):
                    batches[row["id"]] = row["reference"]
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
