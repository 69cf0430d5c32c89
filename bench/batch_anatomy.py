"""Where a batch of 100,000 devices spends its time in PostgreSQL: the service's assignment statement under
variations of the schema, each in a transaction that is rolled back.

Prints figures; it is not a test. Run it from the repository root::

    .venv/bin/python bench/batch_anatomy.py [--devices 1000000] [--batch 100000] [--runs 3]

It seeds a fresh database (``kms_bench_anatomy``, dropped at the end) as bench/catalog.py does (1,000,000
devices over 20 organisations, interleaved in serial order), takes the same 100,000 serial numbers as
catalog.py's createBatchReference (devices of 18 organisations, in serial order) and runs
``resolvers.batches.assignment_sql`` - the statement createBatchReference runs on PostgreSQL - as the platform
administrator: the transfer to another organisation, the pending batch (with confirmation), and for comparison
the same transfer on a prototype table of narrow custody rows and a heap-only change of the claim status. Each
variant first changes the schema inside the transaction (puts back the per-device foreign keys that migration
0011 replaced, drops the counting trigger or indexes, builds the prototype), so nothing of it stays; between runs
VACUUM and CHECKPOINT make every run start from the same table. Figures: the statement's wall-clock time and the
CPU time of the database backend that ran it (from /proc), the median of ``--runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from catalog import ORGANISATIONS, World, _batch_serials, cpu_ticks, seeded_database
from keys import add_pg_url, database_url, drop_database

CLK_TCK = os.sysconf("SC_CLK_TCK")
# the per-device foreign keys of migrations 0003-0010, which 0011 moved to device_counts (NOT VALID: the
# rows there are not checked again, every row the statement writes is)
PER_DEVICE_KEYS = {
    "owner": "ALTER TABLE devices ADD FOREIGN KEY (owner_id) REFERENCES organisations (id) NOT VALID",
    "batch": "ALTER TABLE devices ADD FOREIGN KEY (batch_id) REFERENCES batch_references (id) NOT VALID",
}
# the schema objects the variants remove, found by what they are (their names are tortoise's); migration 0012
# removed (owner_id, serial_number), the other index the variants used to drop
INDEXES = "SELECT indexname FROM pg_indexes WHERE tablename = 'devices' AND indexdef LIKE '%(device_type)'"
# A model the transfer could write instead of device rows: one narrow row per device holding what a transfer
# changes, with the indexes the catalog and the batch pages would need (a prototype, built in the transaction)
CUSTODY = [
    "CREATE TABLE custody WITH (fillfactor = 50) AS SELECT id AS device_id, serial_number, owner_id, owner_path, "
    "batch_id, claim_status FROM devices",
    "ALTER TABLE custody ADD PRIMARY KEY (device_id)",
    "CREATE UNIQUE INDEX custody_serial ON custody (serial_number)",
    "CREATE INDEX custody_owner ON custody (owner_path, serial_number)",
    "CREATE INDEX custody_batch ON custody (batch_id)",
    "ANALYZE custody",
]
CUSTODY_TRANSFER = (
    "UPDATE custody SET owner_id = $2, owner_path = $3, claim_status = 'UNCLAIMED', batch_id = $4 "
    "WHERE serial_number = ANY($1::text[]) RETURNING device_id, serial_number"
)
CLAIM_STATUS_ONLY = (  # what a claim changes: no indexed column, so PostgreSQL can update in place (HOT)
    "UPDATE devices SET claim_status = 'UNCLAIMED', claimed_at = NULL "
    "WHERE serial_number = ANY($1::text[]) RETURNING id, serial_number"
)


@dataclass(frozen=True)
class Variant:
    name: str
    statement: str  # "transfer", "pending", "custody" or "claim status"
    per_device_keys: bool = False
    drop_counting: bool = False
    drop_indexes: bool = False
    drop_batch_index: bool = False


VARIANTS = [
    Variant("transfer, as deployed", "transfer"),
    Variant("transfer, with the per-device foreign keys (before 0011)", "transfer", per_device_keys=True),
    Variant("transfer, without the counting trigger", "transfer", drop_counting=True),
    Variant("transfer, without the device_type index", "transfer", drop_indexes=True),
    Variant("transfer, without the trigger and the type index", "transfer", drop_counting=True, drop_indexes=True),
    Variant("pending batch (pending_batch_id only, 0017), as deployed", "pending"),
    Variant("pending batch, without its partial index", "pending", drop_batch_index=True),
    Variant("narrow custody rows instead (prototype: 4 indexes, no trigger)", "custody"),
    Variant("claim status only (heap-only update), as deployed", "claim status"),
    Variant("claim status only, without the counting trigger", "claim status", drop_counting=True),
]


async def run_variant(
    conn: asyncpg.Connection, variant: Variant, serials: list[str], world: World
) -> tuple[float, float]:
    """One run in a transaction that is rolled back: (wall-clock seconds, backend CPU seconds) of the statement."""
    from resolvers.batches import assignment_sql

    target = world.orgs[1]
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    transaction = conn.transaction()
    await transaction.start()
    try:
        if variant.per_device_keys:
            for key, statement in PER_DEVICE_KEYS.items():
                if variant.statement == "transfer" or key == "batch":
                    await conn.execute(statement)
        if variant.drop_batch_index:
            await conn.execute("DROP INDEX devices_pending_batch_id")
        if variant.drop_counting:
            await conn.execute("DROP TRIGGER device_counts_on_update ON devices")
        if variant.drop_indexes:
            for (name,) in await conn.fetch(INDEXES):
                await conn.execute(f'DROP INDEX "{name}"')
        batch_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO batch_references (id, created_at, reference, requires_confirmation, state, device_count, "
            "organisation_id, sender_id) VALUES ($1, now(), 'ANATOMY', false, 'ACCEPTED', $2, $3, $4)",
            batch_id,
            len(serials),
            target.id,
            world.platform.id,
        )
        values: list[object]
        if variant.statement == "transfer":  # as the platform administrator: the scope is TRUE
            sql, values = assignment_sql(False, "TRUE"), [target.id, target.path, batch_id]
        elif variant.statement == "pending":
            sql, values = assignment_sql(True, "TRUE"), [batch_id]
        elif variant.statement == "custody":
            for statement in CUSTODY:
                await conn.execute(statement)
            sql, values = CUSTODY_TRANSFER, [target.id, target.path, batch_id]
        else:
            sql, values = CLAIM_STATUS_ONLY, []
        ticks, started = cpu_ticks(pid), time.perf_counter()
        rows = await conn.fetch(sql, serials, *values)
        seconds, cpu = time.perf_counter() - started, (cpu_ticks(pid) - ticks) / CLK_TCK
    finally:
        await transaction.rollback()
    if len(rows) != len(serials):
        raise RuntimeError(f"{variant.name}: {len(rows)} rows for {len(serials)} serials")
    return seconds, cpu


async def measure(
    url: str, world: World, count: int, runs: int, variants: list[Variant]
) -> list[tuple[Variant, float, float]]:
    """Each variant's median wall-clock and backend CPU seconds over ``runs``."""
    serials = await _batch_serials(url, world, count)
    conn = await asyncpg.connect(url)
    results = []
    try:
        for variant in variants:
            figures = []
            for _ in range(runs):
                await conn.execute("VACUUM devices")  # the rolled-back run's row versions and index entries
                await conn.execute("CHECKPOINT")  # each run writes its pages' first change in full, like the first
                figures.append(await run_variant(conn, variant, serials, world))
            wall = statistics.median(f[0] for f in figures)
            cpu = statistics.median(f[1] for f in figures)
            results.append((variant, wall, cpu))
            print(f"  {variant.name}: {wall:.2f} s ({', '.join(f'{f[0]:.2f}' for f in figures)})", flush=True)
    finally:
        await conn.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1_000_000, help="devices seeded over 20 organisations")
    parser.add_argument("--batch", type=int, default=100_000, help="serial numbers in the batch")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant (the median is shown)")
    add_pg_url(parser)
    parser.add_argument("--only", metavar="TEXT", help="only the variants whose name contains TEXT")
    args = parser.parse_args()
    variants = [v for v in VARIANTS if not args.only or args.only in v.name]
    if args.devices < 2 * ORGANISATIONS * 50 or not 0 < args.batch <= args.devices // 2 or not 0 < args.runs <= 20:
        parser.error("--devices must be at least 2,000, --batch at most half of them and --runs 1-20")
    name = "kms_bench_anatomy"
    url = database_url(args.pg_url, name)
    with tempfile.TemporaryDirectory(prefix="kms-bench-anatomy-") as tmp:
        env = {**os.environ, "KMS_DATABASE_URL": url, "KMS_DATA_DIR": str(Path(tmp) / "data")}
        env |= {"KMS_MAIL_WORKER": "off", "KMS_KEK_PROVIDER": "file", "KMS_KEK_FILE": ""}
        os.environ.update(env)
        try:
            info, world, seeded = seeded_database(args.pg_url, name, args.devices, env)
            print(f"devices table {seeded['size']} with indexes; {args.batch:,} serials, {args.runs} runs each")
            results = asyncio.run(measure(url, world, args.batch, args.runs, variants))
        finally:
            asyncio.run(drop_database(args.pg_url, name))
    print("\n== assignment statement of createBatchReference, PostgreSQL only ==")
    for key, value in info.items():
        print(f"{key:<12} {value}")
    print(f"\n{'variant':<62} {'wall s':>7} {'PG CPU s':>9}")
    for variant, wall, cpu in results:
        print(f"{variant.name:<62} {wall:>7.2f} {cpu:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
