"""Materialised paths compare byte by byte (collation "C") on PostgreSQL.

Tenancy filters a subtree with a range, path >= '/a/b/' AND path < '/a/b0' ('0' follows '/'), which an
index serves even in a generic prepared plan (a LIKE prefix with a parameter is not). A linguistic
collation would order '/' and the hex digits differently, so the columns use "C". SQLite compares bytes
already.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

COLUMNS = [("organisations", "path"), ("devices", "owner_path"), ("audit_events", "organisation_path")]


async def to_c(apps, schema_editor):
    if schema_editor.client.capabilities.dialect != "postgres":
        return
    for table, column in COLUMNS:
        await schema_editor.client.execute_script(
            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE VARCHAR(2000) COLLATE "C"'
        )


async def to_default(apps, schema_editor):
    if schema_editor.client.capabilities.dialect != "postgres":
        return
    for table, column in COLUMNS:
        await schema_editor.client.execute_script(
            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE VARCHAR(2000) COLLATE "default"'
        )


class Migration(migrations.Migration):
    dependencies = [("models", "0003_devices")]

    operations = [ops.RunPython(to_c, to_default)]
