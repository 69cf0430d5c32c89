"""PostgreSQL: each device row carries the names of its labels (``devices.label_names``), kept from
``device_labels`` by triggers, and the label counts follow the device rows alone (bench/README.md, "Labels
on the device row").

The label counts of migration 0007 joined every changed device with ``device_labels``: a transfer or a claim of
100,000 devices paired their old and new rows (two sorts of 100,000 rows) and scanned every label, 0.4 s of a
batch of 100,000. With the names on the row, the counting trigger unnests them from the statement's old and new
rows: minus one per (old dimensions, label), plus one per (new dimensions, label); what did not change cancels.

It also closes a race. A label added while another transaction moved its device was counted under the
dimensions the label's transaction saw: the old owner, while the move took only the labels it saw along. Now
adding a label updates its device's row, so the two wait for each other and each counts what the other wrote.
Names are added to and removed from the row's current version, never recomputed from a snapshot, for the same
reason.

Deleting a device counts its labels away from its own row, so the row-level BEFORE DELETE trigger of 0007 goes.
SQLite keeps 0007's row-level triggers: it has one writer at a time and no arrays. The ORM does not know the
column; nothing but these triggers writes it.
"""

import importlib

from tortoise import migrations
from tortoise.migrations import operations as ops

_0007 = importlib.import_module("models.migrations.0007_facet_counts")
DIMS, UPSERT_PG, LABEL_UPSERT_PG = _0007.DIMS, _0007.UPSERT_PG, _0007.LABEL_UPSERT_PG


def _labels(table: str, delta: str) -> str:
    return f"SELECT {DIMS}, label, {delta} AS delta FROM {table} CROSS JOIN LATERAL unnest(label_names) AS label"


def _function(name: str, *statements: str) -> str:
    body = "; ".join(statements)
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$ BEGIN {body}; "
        "RETURN NULL; END $$"
    )


COUNTING = [
    _function(
        "device_counts_on_insert",
        UPSERT_PG.format(rows=_0007.INSERTED),
        LABEL_UPSERT_PG.format(rows=_labels("new_rows", "1")),
    ),
    _function(
        "device_counts_on_update",
        UPSERT_PG.format(rows=f"{_0007.INSERTED} UNION ALL {_0007.DELETED}"),
        LABEL_UPSERT_PG.format(rows=f"{_labels('new_rows', '1')} UNION ALL {_labels('old_rows', '-1')}"),
    ),
    _function(
        "device_counts_on_delete",
        UPSERT_PG.format(rows=_0007.DELETED),
        LABEL_UPSERT_PG.format(rows=_labels("old_rows", "-1")),
    ),
]
# the names added to or removed from each device, applied to its row's current version
ADD_NAMES = (
    "UPDATE devices d SET label_names = ARRAY(SELECT DISTINCT name FROM unnest(coalesce(d.label_names, '{{}}') "
    "|| added.names) AS name ORDER BY name) FROM (SELECT device_id, array_agg(label) AS names FROM {rows} "
    "GROUP BY device_id) AS added WHERE d.id = added.device_id"
)
REMOVE_NAMES = (
    "UPDATE devices d SET label_names = ARRAY(SELECT name FROM unnest(d.label_names) AS name "
    "WHERE name <> ALL(removed.names) ORDER BY name) FROM (SELECT device_id, array_agg(label) AS names "
    "FROM {rows} GROUP BY device_id) AS removed WHERE d.id = removed.device_id"
)
NAMES = [
    _function("device_label_names_on_insert", ADD_NAMES.format(rows="new_rows")),
    _function(
        "device_label_names_on_update", REMOVE_NAMES.format(rows="old_rows"), ADD_NAMES.format(rows="new_rows")
    ),
    _function("device_label_names_on_delete", REMOVE_NAMES.format(rows="old_rows")),
    _0007._statement_trigger("device_label_names_on_insert", "INSERT", "device_labels", "NEW TABLE AS new_rows"),
    _0007._statement_trigger(
        "device_label_names_on_update", "UPDATE", "device_labels", "NEW TABLE AS new_rows OLD TABLE AS old_rows"
    ),
    _0007._statement_trigger("device_label_names_on_delete", "DELETE", "device_labels", "OLD TABLE AS old_rows"),
]
NAMES_DOWN = [
    f"DROP TRIGGER IF EXISTS device_label_names_on_{event} ON device_labels; "
    f"DROP FUNCTION IF EXISTS device_label_names_on_{event}()"
    for event in ("insert", "update", "delete")
]
# 0007's label triggers, which counted labels by joining the devices
LABEL_TRIGGERS = [(name, table) for name, table in _0007.PG_TRIGGERS if name.startswith("device_label_counts")]
BACKFILL = (
    "UPDATE devices d SET label_names = l.names FROM (SELECT device_id, array_agg(label ORDER BY label) AS names "
    "FROM device_labels GROUP BY device_id) AS l WHERE d.id = l.device_id"
)


async def forwards(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script("ALTER TABLE devices ADD COLUMN label_names text[]")
    await client.execute_script(BACKFILL)  # under 0007's triggers: the counts do not change
    for name, table in LABEL_TRIGGERS:
        await client.execute_script(f"DROP TRIGGER {name} ON {table}; DROP FUNCTION {name}()")
    for statement in COUNTING + NAMES:
        await client.execute_script(statement)


async def backwards(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for statement in NAMES_DOWN:
        await client.execute_script(statement)
    for statement in _0007.PG:  # 0007's counting functions again, and its label triggers
        if statement.startswith("CREATE FUNCTION device_counts_on_"):
            await client.execute_script(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
        elif statement.startswith(("CREATE FUNCTION device_label_counts_", "CREATE TRIGGER device_label_counts_")):
            await client.execute_script(statement)
    await client.execute_script("ALTER TABLE devices DROP COLUMN label_names")


class Migration(migrations.Migration):
    dependencies = [("models", "0012_owner_path_catalog")]

    initial = False

    operations = [ops.RunPython(forwards, backwards)]
