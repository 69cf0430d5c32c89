"""The server secret the servers share, by fingerprint (models.keys.SharedServerSecret).

Each server reads its secret from KMS_SECRET_KEY or its data directory's file, and a server started without
either made its own: invite links it signed and second factors it sealed then failed on the others. The first
server to start after this migration registers the secret it holds; a server holding another refuses to use it.
"""

from uuid import uuid4

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0014_kek_versions")]

    initial = False

    operations = [
        ops.CreateModel(
            name="SharedServerSecret",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("name", fields.CharField(max_length=32, unique=True)),
                ("fingerprint", fields.CharField(max_length=64)),
            ],
            options={
                "table": "shared_server_secrets",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Fingerprint of the server secret the servers share",
            },
            bases=["BaseModel"],
        ),
    ]
