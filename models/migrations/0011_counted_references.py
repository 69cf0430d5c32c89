"""PostgreSQL: a device's owner and batch are checked once per group of devices, not once per device
(bench/README.md, "batch_anatomy.py").

A foreign key on ``devices.owner_id`` and ``devices.batch_id`` runs a lookup that locks the organisation or
batch row for every device an INSERT or UPDATE writes: 200,000 lookups for a transfer of 100,000 devices, a
quarter of its time. Every device is counted in ``device_counts`` under its owner and batch (the triggers of
migrations 0005 and 0007 keep that exact in the statement that writes the device), so the same two foreign keys
on ``device_counts`` hold the same guarantee with one lookup per new group: a device cannot name an
organisation or batch that does not exist, and an organisation or batch that devices were ever counted under
cannot be deleted (no operation of the service deletes either; a batch's devices are not set to no batch, as
the per-device key did, the delete is refused). Count rows are never deleted, only set to 0.

SQLite keeps its per-device foreign keys (changing them would rebuild the table; the embedded default holds
small catalogs).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

# the keys carry the names tortoise gave them; found by what they reference
_KEYS = (
    "SELECT conname FROM pg_constraint WHERE conrelid = '{table}'::regclass "
    "AND contype = 'f' AND confrelid IN ('organisations'::regclass, 'batch_references'::regclass)"
)
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
    for name, column, table in _COUNTED:
        await client.execute_script(
            f"ALTER TABLE device_counts ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {table} (id)"
        )


async def backwards(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
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
