"""The KEK versions the servers share, by fingerprint (models.keys.KekVersion).

Each server holds its KEK in its own key file, token or KMS_KEK. Two servers started on an empty database each
made their own first KEK, both named ("local", 1): keys imported through one then failed their integrity check
on the other. Servers now register each version's fingerprint here and stay sealed when theirs differs. The
table starts empty: the first server to start after this migration registers the KEK it holds.
"""

from uuid import uuid4

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0013_label_names")]

    initial = False

    operations = [
        ops.CreateModel(
            name="KekVersion",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("kek_id", fields.CharField(max_length=64)),
                ("version", fields.IntField()),
                ("fingerprint", fields.CharField(max_length=64)),
            ],
            options={
                "table": "kek_versions",
                "app": "models",
                "unique_together": (("kek_id", "version"),),
                "pk_attr": "id",
                "table_description": "Fingerprints of the KEK versions the servers share",
            },
            bases=["BaseModel"],
        ),
    ]
