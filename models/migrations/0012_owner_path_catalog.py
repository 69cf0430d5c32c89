"""One index fewer on devices: the catalog finds one organisation's devices through ``(owner_path,
serial_number)`` (bench/README.md, "One index fewer").

An organisation's path names it and no other (paths are never changed), so ``owner_path = <its path>`` selects
the same devices as ``owner_id = <its id>``, in serial order through the index the subtree scope uses already.
``(owner_id, serial_number)`` was kept only for that: every device a batch moves, and every device an import
writes, inserted an entry into it (a sixth of a transfer's index work). The organisation filter of the catalog,
of key releases and of "claim all" now names the organisations' paths.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0011_counted_references")]

    initial = False

    operations = [
        ops.RemoveIndex(model_name="Device", fields=["owner_id", "serial_number"]),
    ]
