"""device_counts, kept exact by triggers on devices, and filled from the devices that exist.

PostgreSQL: statement-level triggers with transition tables, so a COPY of 100,000 devices costs one
aggregated upsert, applied in key order (concurrent changes lock counter rows in the same order).
SQLite: row-level triggers (the embedded default holds small catalogs).
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

KEY_PG = "owner_id::text || '|' || claim_status || '|' || device_type"
UPSERT_PG = f"""
INSERT INTO device_counts (key, owner_id, claim_status, device_type, n)
SELECT {KEY_PG}, owner_id, claim_status, device_type, sum(delta) FROM ({{rows}}) AS changes
GROUP BY owner_id, claim_status, device_type ORDER BY 1
ON CONFLICT (key) DO UPDATE SET n = device_counts.n + excluded.n
"""
INSERTED = "SELECT owner_id, claim_status, device_type, 1 AS delta FROM new_rows"
DELETED = "SELECT owner_id, claim_status, device_type, -1 AS delta FROM old_rows"
PG = [
    "CREATE FUNCTION device_counts_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    + UPSERT_PG.format(rows=INSERTED) + "; RETURN NULL; END $$",
    "CREATE FUNCTION device_counts_on_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    + UPSERT_PG.format(rows=f"{INSERTED} UNION ALL {DELETED}") + "; RETURN NULL; END $$",
    "CREATE FUNCTION device_counts_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    + UPSERT_PG.format(rows=DELETED) + "; RETURN NULL; END $$",
    "CREATE TRIGGER device_counts_insert AFTER INSERT ON devices REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION device_counts_on_insert()",
    "CREATE TRIGGER device_counts_update AFTER UPDATE ON devices REFERENCING NEW TABLE AS new_rows "
    "OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION device_counts_on_update()",
    "CREATE TRIGGER device_counts_delete AFTER DELETE ON devices REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION device_counts_on_delete()",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS device_counts_insert ON devices",
    "DROP TRIGGER IF EXISTS device_counts_update ON devices",
    "DROP TRIGGER IF EXISTS device_counts_delete ON devices",
    "DROP FUNCTION IF EXISTS device_counts_on_insert()",
    "DROP FUNCTION IF EXISTS device_counts_on_update()",
    "DROP FUNCTION IF EXISTS device_counts_on_delete()",
]


def _sqlite_upsert(row: str, delta: str) -> str:
    return (
        "INSERT INTO device_counts (key, owner_id, claim_status, device_type, n) VALUES "
        f"({row}.owner_id || '|' || {row}.claim_status || '|' || {row}.device_type, {row}.owner_id, "
        f"{row}.claim_status, {row}.device_type, {delta}) ON CONFLICT (key) DO UPDATE SET n = n + {delta};"
    )


SQLITE = [
    f"CREATE TRIGGER device_counts_insert AFTER INSERT ON devices BEGIN {_sqlite_upsert('NEW', '1')} END",
    "CREATE TRIGGER device_counts_update AFTER UPDATE OF owner_id, claim_status, device_type ON devices BEGIN "
    f"{_sqlite_upsert('OLD', '-1')} {_sqlite_upsert('NEW', '1')} END",
    f"CREATE TRIGGER device_counts_delete AFTER DELETE ON devices BEGIN {_sqlite_upsert('OLD', '-1')} END",
]
SQLITE_DOWN = [f"DROP TRIGGER IF EXISTS device_counts_{event}" for event in ("insert", "update", "delete")]
BACKFILL = (
    "INSERT INTO device_counts (key, owner_id, claim_status, device_type, n) "
    "SELECT {key}, owner_id, claim_status, device_type, count(*) FROM devices "
    "GROUP BY owner_id, claim_status, device_type"
)


async def create_triggers(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for statement in PG if postgres else SQLITE:
        await client.execute_script(statement)
    key = KEY_PG if postgres else "owner_id || '|' || claim_status || '|' || device_type"
    await client.execute_script(BACKFILL.format(key=key))


async def drop_triggers(apps, schema_editor):
    client = schema_editor.client
    for statement in PG_DOWN if client.capabilities.dialect == "postgres" else SQLITE_DOWN:
        await client.execute_script(statement)

class Migration(migrations.Migration):
    dependencies = [('models', '0004_c_collation_paths')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DeviceCount',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=200)),
                ('owner', fields.ForeignKeyField('models.Organisation', source_field='owner_id', db_constraint=False, to_field='id', related_name='device_counts', on_delete=OnDelete.CASCADE)),
                ('claim_status', fields.CharField(max_length=16)),
                ('device_type', fields.CharField(max_length=64)),
                ('n', fields.BigIntField(default=0)),
            ],
            options={'table': 'device_counts', 'app': 'models', 'pk_attr': 'key', 'table_description': 'Device counts per owner, claim status and type'},
            bases=['Model'],
        ),
        ops.RunPython(create_triggers, drop_triggers),
    ]
