"""PostgreSQL: a device's owner and batch are checked once per group of devices, not once per device
(bench/README.md, "batch_anatomy.py").

A foreign key on ``devices.owner_id`` and ``devices.batch_id`` runs a lookup that locks the organisation or
batch row for every device an INSERT or UPDATE writes: 200,000 lookups for a transfer of 100,000 devices, a
fifth of its time. Every device is counted in ``device_counts`` under its owner and batch (the triggers of
migrations 0005 and 0007 keep that exact in the statement that writes the device: a device in a new group
inserts its count row), so the same two foreign keys on ``device_counts`` hold the same guarantee with one
lookup per new group: a device cannot name an organisation or batch that does not exist, and an organisation or
batch that devices were ever counted under cannot be deleted (no operation of the service deletes either; a
batch's devices are no longer set to no batch, as the per-device key did: the delete is refused).

The guarantee now rests on the count rows, so they are guarded too: a count row of devices (n <> 0) cannot be
deleted, and device_counts cannot be truncated while devices exist (also not through TRUNCATE ... CASCADE of
the organisations). Count rows of no device left may be deleted. What still bypasses it, as it bypasses any
trigger: ``ALTER TABLE devices DISABLE TRIGGER`` by the table owner.

SQLite keeps its per-device foreign keys (changing them would rebuild the table; the embedded default holds
small catalogs).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

# the keys are found by what they reference (their names are PostgreSQL's defaults)
_KEYS = (
    "SELECT conname FROM pg_constraint WHERE conrelid = '{table}'::regclass "
    "AND contype = 'f' AND confrelid IN ('organisations'::regclass, 'batch_references'::regclass)"
)
# count rows of a batch deleted by hand before this migration (its devices were set to no batch): n = 0
_ORPHANS = (
    "DELETE FROM device_counts c WHERE n = 0 AND batch_id IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM batch_references b WHERE b.id = c.batch_id)"
)
_GUARD = [
    "CREATE FUNCTION device_counts_kept() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'DELETE' THEN "
    "IF OLD.n <> 0 THEN RAISE EXCEPTION 'device_counts row % counts devices: it holds their owner and batch keys', "
    "OLD.key USING ERRCODE = 'integrity_constraint_violation'; END IF; RETURN OLD; END IF; "
    "IF EXISTS (SELECT 1 FROM devices) THEN RAISE EXCEPTION 'device_counts holds the owner and batch keys of the "
    "devices: it is emptied with them' USING ERRCODE = 'integrity_constraint_violation'; END IF; RETURN NULL; "
    "END $$",
    "CREATE TRIGGER device_counts_kept BEFORE DELETE ON device_counts FOR EACH ROW "
    "EXECUTE FUNCTION device_counts_kept()",
    # after the truncation of every table the statement names or cascades to: devices may be among them
    "CREATE TRIGGER device_counts_kept_truncate AFTER TRUNCATE ON device_counts FOR EACH STATEMENT "
    "EXECUTE FUNCTION device_counts_kept()",
]
_UNGUARD = [
    "DROP TRIGGER IF EXISTS device_counts_kept_truncate ON device_counts",
    "DROP TRIGGER IF EXISTS device_counts_kept ON device_counts",
    "DROP FUNCTION IF EXISTS device_counts_kept()",
]
_COUNTED = [
    ("device_counts_owner_id_fkey", "owner_id", "organisations"),
    ("device_counts_batch_id_fkey", "batch_id", "batch_references"),
]


async def forwards(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for table in ("devices", "device_counts"):  # device_counts' owner key deleted the counts with the owner
        _count, rows = await client.execute_query(_KEYS.format(table=table))
        for row in rows:
            await client.execute_script(f'ALTER TABLE {table} DROP CONSTRAINT "{row["conname"]}"')
    await client.execute_script(_ORPHANS)
    for name, column, table in _COUNTED:
        await client.execute_script(
            f"ALTER TABLE device_counts ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {table} (id)"
        )
    for statement in _GUARD:
        await client.execute_script(statement)


async def backwards(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for statement in _UNGUARD:
        await client.execute_script(statement)
    for name, _column, _table in _COUNTED:
        await client.execute_script(f"ALTER TABLE device_counts DROP CONSTRAINT IF EXISTS {name}")
    await client.execute_script(
        "ALTER TABLE device_counts ADD CONSTRAINT device_counts_owner_id_fkey FOREIGN KEY (owner_id) "
        "REFERENCES organisations (id) ON DELETE CASCADE"
    )
    await client.execute_script(
        "ALTER TABLE devices ADD CONSTRAINT devices_owner_id_fkey FOREIGN KEY (owner_id) "
        "REFERENCES organisations (id) ON DELETE RESTRICT"
    )
    await client.execute_script(
        "ALTER TABLE devices ADD CONSTRAINT devices_batch_id_fkey FOREIGN KEY (batch_id) "
        "REFERENCES batch_references (id) ON DELETE SET NULL"
    )


class Migration(migrations.Migration):
    dependencies = [("models", "0010_release_parts")]

    initial = False

    operations = [ops.RunPython(forwards, backwards)]
