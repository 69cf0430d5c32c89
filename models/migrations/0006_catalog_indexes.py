"""Catalog indexes from the million-device bench (bench/README.md).

- devices.batch_id: a batch's devices (take ownership, batchReference.devices) without a table scan.
- PostgreSQL: owner_id and owner_path are functionally dependent (a path names one organisation);
  extended statistics tell the planner so, instead of multiplying their selectivities.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


async def create(apps, schema_editor):
    client = schema_editor.client
    await client.execute_script("CREATE INDEX IF NOT EXISTS devices_batch_id ON devices (batch_id)")
    if client.capabilities.dialect == "postgres":
        await client.execute_script(
            "CREATE STATISTICS IF NOT EXISTS devices_owner_dependencies (dependencies) "
            "ON owner_id, owner_path FROM devices"
        )
        await client.execute_script("ANALYZE devices")


async def drop(apps, schema_editor):
    client = schema_editor.client
    await client.execute_script("DROP INDEX IF EXISTS devices_batch_id")
    if client.capabilities.dialect == "postgres":
        await client.execute_script("DROP STATISTICS IF EXISTS devices_owner_dependencies")


class Migration(migrations.Migration):
    dependencies = [("models", "0005_device_counts")]

    operations = [ops.RunPython(create, drop)]
