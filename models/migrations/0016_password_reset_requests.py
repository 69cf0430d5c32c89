"""Password resets asked for by anonymous callers, queued for the mail worker (models.accounts).

Before, asking wrote a token, a mail and an audit record at once for a known address and nothing for an
unknown one, so the time of the answer told whether an address had an account.
"""

from uuid import uuid4

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0015_shared_server_secret")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PasswordResetRequest",
            fields=[
                ("id", fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("address", fields.CharField(max_length=320)),
            ],
            options={
                "table": "password_reset_requests",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Password resets asked for, until the mail worker takes them",
            },
            bases=["BaseModel"],
        ),
    ]
