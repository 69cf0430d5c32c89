"""Release lists as parts: a release keeps its devices' ids a few thousand per row (key_release_parts)
instead of one row per device (key_release_devices), which cost a row, two index entries and two
foreign-key checks (each locking the device row) per released key: 1.4 s of a 100,000-key release.
Releases are downloadable for minutes only; the old per-device lists are dropped with their table.
"""

from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0009_claim_hot_updates")]

    initial = False

    operations = [
        ops.CreateModel(
            name="KeyReleasePart",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "release",
                    fields.ForeignKeyField(
                        "models.KeyRelease",
                        source_field="release_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="parts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("seq", fields.IntField()),
                ("device_ids", fields.TextField()),
            ],
            options={
                "table": "key_release_parts",
                "app": "models",
                "unique_together": (("release", "seq"),),
                "pk_attr": "id",
                "table_description": "Devices of a key release, in file order",
            },
            bases=["BaseModel"],
        ),
        ops.DeleteModel(name="KeyReleaseDevice"),
    ]
