"""Claims as HOT updates (bench/README.md, "claim").

A claim changes only ``claim_status`` and ``claimed_at``. While ``claim_status`` was part of the index
``(owner_id, claim_status, serial_number)``, PostgreSQL had to write a new entry into every index of
``devices`` for each claimed row (eight WAL records per device, ~30 µs). Without an indexed column
changing, the new row version stays on its page as a heap-only tuple and no index is touched, provided
the page has room for it. Devices are written in bulk and then changed in bulk (a batch moves 100,000 to
new pages, their new owner claims all of them next): ``fillfactor = 50`` leaves room on every page for a
second version of each row on it, so a claim of every device on a page stays HOT (bench: PostgreSQL's
part of a 100,000-device claim after a batch 2.05 s -> 0.85 s; WAL 68 -> 17 MB). The price is a heap
twice as large; the indexes do not grow. Pages written before this migration get the room when they are
rewritten; nothing is rewritten here.

The catalog still finds an organisation's devices in serial order through ``(owner_id, serial_number)``;
the claim status is checked on the row (and counted from ``device_counts``).
"""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


async def set_fillfactor(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script("ALTER TABLE devices SET (fillfactor = 50)")


async def reset_fillfactor(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script("ALTER TABLE devices RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("models", "0008_user_otp")]

    initial = False

    operations = [
        ops.AddIndex(model_name="Device", index=Index(fields=("owner_id", "serial_number"))),
        ops.RemoveIndex(model_name="Device", fields=["owner_id", "claim_status", "serial_number"]),
        ops.RunPython(set_fillfactor, reset_fillfactor),
    ]
