"""Facet counts kept by triggers: device_counts gains the batch, and device_label_counts counts labelled
devices per owner, claim status, device type, batch and label, so deviceFacets reads a few thousand rows
instead of grouping a million devices (bench/README.md).

PostgreSQL: statement-level triggers with transition tables as in 0005, aggregated, groups whose sum is 0
skipped, applied in key order (concurrent changes lock counter rows in the same order). A device deleted
with its labels (ON DELETE CASCADE) takes its label counts away in a row-level BEFORE DELETE trigger: the
cascaded delete of the labels no longer finds the device, so it is not counted twice.
SQLite: row-level triggers (the embedded default holds small catalogs).
"""

import importlib

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

_0005 = importlib.import_module("models.migrations.0005_device_counts")

DIMS = "owner_id, claim_status, device_type, batch_id"
KEY_PG = "owner_id::text || '|' || claim_status || '|' || device_type || '|' || coalesce(batch_id::text, '')"
LABEL_KEY_PG = f"{KEY_PG} || '|' || label"
UPSERT_PG = f"""
INSERT INTO device_counts (key, {DIMS}, n)
SELECT {KEY_PG}, {DIMS}, sum(delta) FROM ({{rows}}) AS changes
GROUP BY {DIMS} HAVING sum(delta) <> 0 ORDER BY 1
ON CONFLICT (key) DO UPDATE SET n = device_counts.n + excluded.n
"""
LABEL_UPSERT_PG = f"""
INSERT INTO device_label_counts (key, {DIMS}, label, n)
SELECT {LABEL_KEY_PG}, {DIMS}, label, sum(delta) FROM ({{rows}}) AS changes
GROUP BY {DIMS}, label HAVING sum(delta) <> 0 ORDER BY 1
ON CONFLICT (key) DO UPDATE SET n = device_label_counts.n + excluded.n
"""
INSERTED = f"SELECT {DIMS}, 1 AS delta FROM new_rows"
DELETED = f"SELECT {DIMS}, -1 AS delta FROM old_rows"
D = "d.owner_id, d.claim_status, d.device_type, d.batch_id"
# devices whose dimensions changed: their labels move from the old dimensions to the new ones (one pass over
# device_labels; an id never changes while labels point to it, the foreign key forbids it)
DEVICE_LABELS_MOVED = (
    "WITH moved AS MATERIALIZED (SELECT o.owner_id AS o_owner, o.claim_status AS o_status, o.device_type AS o_type, "
    "o.batch_id AS o_batch, n.owner_id AS n_owner, n.claim_status AS n_status, n.device_type AS n_type, "
    "n.batch_id AS n_batch, l.label FROM old_rows o JOIN new_rows n ON n.id = o.id "
    "JOIN device_labels l ON l.device_id = n.id WHERE (o.owner_id, o.claim_status, o.device_type, o.batch_id) "
    "IS DISTINCT FROM (n.owner_id, n.claim_status, n.device_type, n.batch_id)) "
    "SELECT n_owner AS owner_id, n_status AS claim_status, n_type AS device_type, n_batch AS batch_id, label, "
    "1 AS delta FROM moved UNION ALL SELECT o_owner, o_status, o_type, o_batch, label, -1 FROM moved"
)
# labels added or removed: counted under their device's dimensions (a device deleted in the same
# statement is not found: its BEFORE DELETE trigger took its labels away already)
LABELS_ADDED = f"SELECT {D}, l.label, 1 AS delta FROM new_rows l JOIN devices d ON d.id = l.device_id"
LABELS_REMOVED = f"SELECT {D}, l.label, -1 AS delta FROM old_rows l JOIN devices d ON d.id = l.device_id"


def _function(name: str, *statements: str) -> str:
    body = "; ".join(statements)
    # no JIT: compiling the small aggregations would cost more than running them
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$ BEGIN {body}; RETURN NULL; END $$"


def _statement_trigger(name: str, event: str, table: str, tables: str) -> str:
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
    )


PG = [
    _function("device_counts_on_insert", UPSERT_PG.format(rows=INSERTED)),
    _function(
        "device_counts_on_update",
        UPSERT_PG.format(rows=f"{INSERTED} UNION ALL {DELETED}"),
        LABEL_UPSERT_PG.format(rows=DEVICE_LABELS_MOVED),
    ),
    _function("device_counts_on_delete", UPSERT_PG.format(rows=DELETED)),
    "CREATE FUNCTION device_label_counts_on_device_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    + LABEL_UPSERT_PG.format(
        rows="SELECT OLD.owner_id, OLD.claim_status, OLD.device_type, OLD.batch_id, l.label, -1 AS delta "
        "FROM device_labels l WHERE l.device_id = OLD.id"
    )
    + "; RETURN OLD; END $$",
    _function("device_label_counts_on_insert", LABEL_UPSERT_PG.format(rows=LABELS_ADDED)),
    _function(
        "device_label_counts_on_update", LABEL_UPSERT_PG.format(rows=f"{LABELS_ADDED} UNION ALL {LABELS_REMOVED}")
    ),
    _function("device_label_counts_on_delete", LABEL_UPSERT_PG.format(rows=LABELS_REMOVED)),
    _statement_trigger("device_counts_on_insert", "INSERT", "devices", "NEW TABLE AS new_rows"),
    _statement_trigger("device_counts_on_update", "UPDATE", "devices", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
    _statement_trigger("device_counts_on_delete", "DELETE", "devices", "OLD TABLE AS old_rows"),
    "CREATE TRIGGER device_label_counts_on_device_delete BEFORE DELETE ON devices "
    "FOR EACH ROW EXECUTE FUNCTION device_label_counts_on_device_delete()",
    _statement_trigger("device_label_counts_on_insert", "INSERT", "device_labels", "NEW TABLE AS new_rows"),
    _statement_trigger(
        "device_label_counts_on_update", "UPDATE", "device_labels", "NEW TABLE AS new_rows OLD TABLE AS old_rows"
    ),
    _statement_trigger("device_label_counts_on_delete", "DELETE", "device_labels", "OLD TABLE AS old_rows"),
]
PG_TRIGGERS = [
    ("device_counts_on_insert", "devices"),
    ("device_counts_on_update", "devices"),
    ("device_counts_on_delete", "devices"),
    ("device_label_counts_on_device_delete", "devices"),
    ("device_label_counts_on_insert", "device_labels"),
    ("device_label_counts_on_update", "device_labels"),
    ("device_label_counts_on_delete", "device_labels"),
]
PG_DOWN = [f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in PG_TRIGGERS] + [
    f"DROP FUNCTION IF EXISTS {name}()" for name, _ in PG_TRIGGERS
]

SQLITE_KEY = "{r}.owner_id || '|' || {r}.claim_status || '|' || {r}.device_type || '|' || coalesce({r}.batch_id, '')"


def _sqlite_count(row: str, delta: str) -> str:
    return (
        f"INSERT INTO device_counts (key, {DIMS}, n) VALUES ({SQLITE_KEY.format(r=row)}, {row}.owner_id, "
        f"{row}.claim_status, {row}.device_type, {row}.batch_id, {delta}) "
        f"ON CONFLICT (key) DO UPDATE SET n = n + {delta};"
    )


def _sqlite_labels(device: str, source: str, where: str, delta: str) -> str:
    """Upsert the label counts of the labels in ``source`` (a FROM clause) under ``device``'s dimensions."""
    return (
        f"INSERT INTO device_label_counts (key, {DIMS}, label, n) "
        f"SELECT {SQLITE_KEY.format(r=device)} || '|' || l.label, {device}.owner_id, {device}.claim_status, "
        f"{device}.device_type, {device}.batch_id, l.label, {delta} FROM {source} WHERE {where} "
        f"ON CONFLICT (key) DO UPDATE SET n = n + {delta};"
    )


_MOVED = (
    "OLD.owner_id IS NOT NEW.owner_id OR OLD.claim_status IS NOT NEW.claim_status OR "
    "OLD.device_type IS NOT NEW.device_type OR OLD.batch_id IS NOT NEW.batch_id"
)
SQLITE = [
    f"CREATE TRIGGER device_counts_insert AFTER INSERT ON devices BEGIN {_sqlite_count('NEW', '1')} END",
    "CREATE TRIGGER device_counts_update AFTER UPDATE OF owner_id, claim_status, device_type, batch_id ON devices "
    f"WHEN {_MOVED} BEGIN {_sqlite_count('OLD', '-1')} {_sqlite_count('NEW', '1')} "
    f"{_sqlite_labels('OLD', 'device_labels l', 'l.device_id = OLD.id', '-1')} "
    f"{_sqlite_labels('NEW', 'device_labels l', 'l.device_id = NEW.id', '1')} END",
    f"CREATE TRIGGER device_counts_delete AFTER DELETE ON devices BEGIN {_sqlite_count('OLD', '-1')} END",
    "CREATE TRIGGER device_label_counts_device_delete BEFORE DELETE ON devices BEGIN "
    f"{_sqlite_labels('OLD', 'device_labels l', 'l.device_id = OLD.id', '-1')} END",
    "CREATE TRIGGER device_label_counts_insert AFTER INSERT ON device_labels BEGIN "
    f"{_sqlite_labels('d', 'devices d, (SELECT NEW.label AS label) l', 'd.id = NEW.device_id', '1')} END",
    "CREATE TRIGGER device_label_counts_delete AFTER DELETE ON device_labels BEGIN "
    f"{_sqlite_labels('d', 'devices d, (SELECT OLD.label AS label) l', 'd.id = OLD.device_id', '-1')} END",
    "CREATE TRIGGER device_label_counts_update AFTER UPDATE OF device_id, label ON device_labels BEGIN "
    f"{_sqlite_labels('d', 'devices d, (SELECT OLD.label AS label) l', 'd.id = OLD.device_id', '-1')} "
    f"{_sqlite_labels('d', 'devices d, (SELECT NEW.label AS label) l', 'd.id = NEW.device_id', '1')} END",
]
SQLITE_TRIGGERS = [
    "device_counts_insert",
    "device_counts_update",
    "device_counts_delete",
    "device_label_counts_device_delete",
    "device_label_counts_insert",
    "device_label_counts_delete",
    "device_label_counts_update",
]
SQLITE_DOWN = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
BACKFILL = [
    "DELETE FROM device_counts",
    f"INSERT INTO device_counts (key, {DIMS}, n) SELECT {{key}}, {DIMS}, count(*) FROM devices GROUP BY {DIMS}",
    "DELETE FROM device_label_counts",
    f"INSERT INTO device_label_counts (key, {DIMS}, label, n) SELECT {{label_key}}, {D}, l.label, count(*) "
    f"FROM device_labels l JOIN devices d ON d.id = l.device_id GROUP BY {D}, l.label",
]


def _postgres(schema_editor) -> bool:
    return schema_editor.client.capabilities.dialect == "postgres"


async def drop_0005(apps, schema_editor):
    await _0005.drop_triggers(apps, schema_editor)


async def create_triggers(apps, schema_editor):
    client = schema_editor.client
    postgres = _postgres(schema_editor)
    for statement in PG if postgres else SQLITE:
        await client.execute_script(statement)
    for table in ("device_counts", "device_label_counts") if postgres else ():
        # Every bulk statement updates hundreds of counter rows: free room on each page lets PostgreSQL keep
        # the new row versions on the same page (HOT) and prune the old ones without waiting for a vacuum,
        # so the facets keep reading a few pages.
        await client.execute_script(f"ALTER TABLE {table} SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02)")
    if postgres:
        key = KEY_PG
        label_key = KEY_PG.replace("owner_id", "d.owner_id").replace("claim_status", "d.claim_status")
        label_key = label_key.replace("device_type", "d.device_type").replace("batch_id", "d.batch_id")
        label_key += " || '|' || l.label"
    else:
        key = SQLITE_KEY.replace("{r}.", "")
        label_key = SQLITE_KEY.format(r="d") + " || '|' || l.label"
    for statement in BACKFILL:
        await client.execute_script(statement.format(key=key, label_key=label_key))
    if postgres:
        await client.execute_script("ANALYZE device_counts, device_label_counts")


async def drop_triggers(apps, schema_editor):
    client = schema_editor.client
    if _postgres(schema_editor):
        await client.execute_script("ALTER TABLE device_counts RESET (fillfactor, autovacuum_vacuum_scale_factor)")
    for statement in PG_DOWN if _postgres(schema_editor) else SQLITE_DOWN:
        await client.execute_script(statement)


async def restore_0005(apps, schema_editor):
    await schema_editor.client.execute_script("DELETE FROM device_counts")
    await _0005.create_triggers(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("models", "0006_catalog_indexes")]

    initial = False

    operations = [
        ops.RunPython(drop_0005, restore_0005),
        ops.CreateModel(
            name="DeviceLabelCount",
            fields=[
                ("key", fields.CharField(primary_key=True, unique=True, db_index=True, max_length=320)),
                (
                    "owner",
                    fields.ForeignKeyField(
                        "models.Organisation",
                        source_field="owner_id",
                        db_constraint=False,
                        to_field="id",
                        related_name="device_label_counts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("claim_status", fields.CharField(max_length=16)),
                ("device_type", fields.CharField(max_length=64)),
                ("batch_id", fields.UUIDField(null=True)),
                ("label", fields.CharField(max_length=100)),
                ("n", fields.BigIntField(default=0)),
            ],
            options={
                "table": "device_label_counts",
                "app": "models",
                "pk_attr": "key",
                "table_description": "Labelled device counts per owner, claim status, type, batch and label",
            },
            bases=["Model"],
        ),
        ops.AlterModelOptions(
            name="DeviceCount",
            options={
                "table": "device_counts",
                "app": "models",
                "pk_attr": "key",
                "table_description": "Device counts per owner, claim status, type and batch",
            },
        ),
        ops.AddField(
            model_name="DeviceCount",
            name="batch_id",
            field=fields.UUIDField(null=True),
        ),
        ops.RunPython(create_triggers, drop_triggers),
    ]
