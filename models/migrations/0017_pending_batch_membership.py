"""A device waiting in a batch for confirmation keeps the batch it arrived in.

Before, a batch that needed confirmation wrote its id into ``devices.batch_id``: the sender's catalog then
showed the waiting batch as the device's batch reference, and a withdrawal left the device with none. The
waiting batch now has a column of its own, ``pending_batch_id``; ``batch_id`` changes only when the device
moves (a batch without confirmation, or taking ownership). A partial index finds a waiting batch's devices
(take ownership, withdrawal, its device list) and holds nothing for the others.

Devices already waiting move their batch to the new column; the batch they arrived in was overwritten and is
not known any more, so their ``batch_id`` becomes empty.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

WAITING = "SELECT id FROM batch_references WHERE state = 'PENDING_CONFIRMATION'"


async def move_waiting(apps, schema_editor):
    client = schema_editor.client
    await client.execute_script(
        "CREATE INDEX IF NOT EXISTS devices_pending_batch_id ON devices (pending_batch_id) "
        "WHERE pending_batch_id IS NOT NULL"
    )
    await client.execute_script(
        f"UPDATE devices SET pending_batch_id = batch_id, batch_id = NULL WHERE batch_id IN ({WAITING})"  # noqa: S608
    )


async def move_back(apps, schema_editor):
    client = schema_editor.client
    await client.execute_script(
        "UPDATE devices SET batch_id = pending_batch_id WHERE pending_batch_id IS NOT NULL"
    )
    await client.execute_script("DROP INDEX IF EXISTS devices_pending_batch_id")


class Migration(migrations.Migration):
    dependencies = [("models", "0016_password_reset_requests")]

    initial = False

    operations = [
        ops.AddField(model_name="Device", name="pending_batch_id", field=fields.UUIDField(null=True)),
        ops.RunPython(move_waiting, move_back),
    ]
