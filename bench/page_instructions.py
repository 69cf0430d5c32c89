"""Instructions the server executes per catalog page: GraphQL (with and without plans) against the plain endpoint.

Prints figures; it is not a test. Run it from the repository root::

    .venv/bin/python bench/page_instructions.py [--devices 100000] [--requests 50 150] [--no-total]

CPU time on a shared virtual machine drifts by up to 2x within a day (bench/README.md), more than the
differences worth measuring. Instructions do not: valgrind's callgrind counts the same number for the same
program and inputs whatever else the machine does. The bench seeds ``kms_bench_instructions`` as catalog.py
does (dropped at the end), then runs the service's Starlette app and the plain endpoint's app in-process
(no HTTP server: the ASGI call itself, so uvicorn's share, equal for both, is left out) under callgrind:
one login, 20 warm-up requests, then N requests of catalog.py's page (50 devices of one organisation and
claim status after a cursor, with totalCount unless --no-total). Each side runs with two request counts;
the difference of the two totals over the difference of the counts is the cost of one request, without the
start-up. PostgreSQL's work happens in its own processes and is not counted.

Sides: ``graphql`` (the service as deployed), ``unplanned`` (the same without schema/plans.py: every
request through strawberry's whole path) and ``plain`` (bench/plain_catalog.py).
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from catalog import seeded_database
from keys import ROOT, add_pg_url, database_url, drop_database

SIDES = ("graphql", "unplanned", "plain")
WARM_UP = 20


async def _call(app: Any, method: str, path: str, body: bytes, cookie: str, query: bytes = b"") -> dict[str, Any]:
    """One ASGI HTTP request to ``app``: status, headers and body of the answer."""
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
    headers += [(b"content-length", str(len(body)).encode())] + ([(b"cookie", cookie.encode())] if cookie else [])
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:  # the app asks again only to learn of a disconnect: none comes
            await asyncio.Event().wait()
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    answer: dict[str, Any] = {"status": 0, "headers": [], "body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], message["headers"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    if answer["status"] != 200:
        raise RuntimeError(f"{method} {path}: {answer['status']} {answer['body'][:300]!r}")
    return answer


def child(side: str, requests: int, total: bool, world_file: str) -> None:
    """The measured program: runs under callgrind, prints nothing it does not have to."""
    import pickle

    world = pickle.loads(Path(world_file).read_bytes())  # the parent process wrote it just now
    asyncio.run(_requests(side, requests, total, world))


async def _requests(side: str, requests: int, total: bool, world: Any) -> None:
    import plain_catalog
    from catalog import gql_body, plain_params
    from keys import LOGIN, PASSWORD

    from app import create_app
    from schema.plans import RootFieldPlans

    service, plain = create_app(), plain_catalog.app
    if side == "unplanned":
        (graphql,) = [r.endpoint for r in service.routes if getattr(r, "path", None) == "/graphql"]
        plans = graphql.plans  # one that keeps nothing: every request takes strawberry's whole path
        graphql.plans = RootFieldPlans(plans.schema, plans.executor_class, plans.limits, plans.root_fields, 0)
    async with service.router.lifespan_context(service), plain.router.lifespan_context(plain):
        login = json.dumps({"query": LOGIN, "variables": {"email": world.emails["catalog"], "password": PASSWORD}})
        answer = await _call(service, "POST", "/graphql", login.encode(), "")
        cookie = "; ".join(v.decode().split(";")[0] for k, v in answer["headers"] if k == b"set-cookie")
        org = world.orgs[0]
        first = await _call(service, "POST", "/graphql", json.dumps(gql_body(org, None, False)).encode(), cookie)
        cursor = json.loads(first["body"])["data"]["devices"]["pageInfo"]["endCursor"]
        body = json.dumps(gql_body(org, cursor, total)).encode()
        query = urlencode(plain_params(org, cursor, total)).encode()
        for _ in range(WARM_UP + requests):
            if side == "plain":
                await _call(plain, "GET", "/catalog", b"", cookie, query)
            else:
                await _call(service, "POST", "/graphql", body, cookie)


def instructions(side: str, requests: int, args: argparse.Namespace, world_file: str, env: dict[str, str]) -> int:
    """Instructions callgrind counted for a whole child run."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        side,
        str(requests),
        world_file,
        *(["--no-total"] if args.no_total else []),
    ]
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=3600)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run of {side} failed:\n{run.stderr[-3000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=100_000, help="devices seeded over 20 organisations")
    parser.add_argument("--requests", type=int, nargs=2, default=[50, 150], help="the two request counts")
    parser.add_argument("--no-total", action="store_true", help="pages without totalCount")
    add_pg_url(parser)
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "REQUESTS", "WORLD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, requests, world_file = args.child
        child(side, int(requests), not args.no_total, world_file)
        return 0
    low, high = args.requests
    if not 0 < low < high <= 2000 or args.devices < 2000:
        parser.error("--requests: two counts, 0 < first < second <= 2000; --devices at least 2,000")
    import pickle

    name = "kms_bench_instructions"
    url = database_url(args.pg_url, name)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kms-bench-instructions-") as tmp:
        env = {**os.environ, "KMS_DATABASE_URL": url, "PLAIN_DATABASE_URL": url, "KMS_DATA_DIR": str(Path(tmp) / "d")}
        env |= {"KMS_MAIL_WORKER": "off", "KMS_KEK_PROVIDER": "file", "KMS_KEK_FILE": "", "KMS_LOG_LEVEL": "WARNING"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench"), str(ROOT)])
        os.environ.update(env)
        try:
            info, world, _seeded = seeded_database(args.pg_url, name, args.devices, env)
            world_file = str(Path(tmp) / "world.pickle")
            with open(world_file, "wb") as f:
                pickle.dump(world, f)
            runs = [(side, count) for side in SIDES for count in (low, high)]
            print(f"{len(runs)} callgrind runs, two at a time ...", flush=True)
            with ThreadPoolExecutor(max_workers=2) as pool:
                counted = dict(
                    zip(runs, pool.map(lambda r: instructions(*r, args, world_file, env), runs), strict=True)
                )
            for side in SIDES:
                figures[side] = (counted[side, high] - counted[side, low]) / (high - low)
        finally:
            asyncio.run(drop_database(args.pg_url, name))
    print(f"\n== instructions per catalog page ({'without' if args.no_total else 'with'} totalCount), in-process ==")
    for key, value in info.items():
        print(f"{key:<12} {value}")
    print(f"\n{'side':<12} {'instructions':>14} {'x plain':>8}")
    for side in SIDES:
        print(f"{side:<12} {figures[side]:>14,.0f} {figures[side] / figures['plain']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
