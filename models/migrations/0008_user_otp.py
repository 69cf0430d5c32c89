"""The second login factor: a user's sealed TOTP secret, when it was confirmed, and the last step used."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0007_facet_counts")]

    initial = False

    operations = [
        ops.AddField(model_name="User", name="otp_secret", field=fields.BinaryField(null=True)),
        ops.AddField(model_name="User", name="otp_enabled_at", field=fields.DatetimeField(null=True)),
        ops.AddField(model_name="User", name="otp_last_step", field=fields.BigIntField(null=True)),
    ]
