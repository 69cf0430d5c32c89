from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_system_templates')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BatchReference',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('reference', fields.CharField(max_length=100)),
                ('label', fields.CharField(null=True, max_length=100)),
                ('organisation', fields.ForeignKeyField('models.Organisation', source_field='organisation_id', db_constraint=True, to_field='id', related_name='batches', on_delete=OnDelete.RESTRICT)),
                ('sender', fields.ForeignKeyField('models.Organisation', source_field='sender_id', db_constraint=True, to_field='id', related_name='batches_sent', on_delete=OnDelete.RESTRICT)),
                ('requires_confirmation', fields.BooleanField(default=False)),
                ('state', fields.CharField(default='ACCEPTED', max_length=32)),
                ('device_count', fields.IntField(default=0)),
                ('accepted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'batch_references', 'app': 'models', 'unique_together': (('organisation', 'reference'),), 'pk_attr': 'id', 'table_description': 'Batch references'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='Device',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('serial_number', fields.CharField(unique=True, max_length=64)),
                ('device_type', fields.CharField(db_index=True, max_length=64)),
                ('owner', fields.ForeignKeyField('models.Organisation', source_field='owner_id', db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.RESTRICT)),
                ('owner_path', fields.CharField(max_length=2000)),
                ('claim_status', fields.CharField(default='UNCLAIMED', max_length=16)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attributes', fields.TextField(default='{}', unique=False)),
                ('batch', fields.ForeignKeyField('models.BatchReference', source_field='batch_id', null=True, db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'devices', 'app': 'models', 'indexes': [Index(fields=['owner_path', 'serial_number']), Index(fields=['owner_id', 'claim_status', 'serial_number'])], 'pk_attr': 'id', 'table_description': 'Devices'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='DeviceKey',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('device', fields.ForeignKeyField('models.Device', source_field='device_id', db_constraint=True, to_field='id', related_name='keys', on_delete=OnDelete.CASCADE)),
                ('key_type', fields.CharField(max_length=32)),
                ('algorithm', fields.CharField(max_length=8)),
                ('ciphertext', fields.BinaryField()),
                ('nonce', fields.BinaryField()),
                ('wrapped_dek', fields.BinaryField()),
                ('kek_id', fields.CharField(max_length=64)),
                ('kek_version', fields.IntField(db_index=True)),
                ('check_value', fields.CharField(max_length=16)),
            ],
            options={'table': 'device_keys', 'app': 'models', 'unique_together': (('device', 'key_type'),), 'pk_attr': 'id', 'table_description': 'Envelope-encrypted device keys'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='DeviceLabel',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('device', fields.ForeignKeyField('models.Device', source_field='device_id', db_constraint=True, to_field='id', related_name='labels', on_delete=OnDelete.CASCADE)),
                ('label', fields.CharField(db_index=True, max_length=100)),
            ],
            options={'table': 'device_labels', 'app': 'models', 'unique_together': (('device', 'label'),), 'pk_attr': 'id', 'table_description': 'Labels of devices'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='KeyRelease',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organisation', fields.ForeignKeyField('models.Organisation', source_field='organisation_id', db_constraint=True, to_field='id', related_name='key_releases', on_delete=OnDelete.RESTRICT)),
                ('user_id', fields.UUIDField()),
                ('format', fields.CharField(max_length=64)),
                ('filename', fields.CharField(max_length=200)),
                ('device_count', fields.IntField()),
                ('key_count', fields.IntField()),
                ('recipient_certificate', fields.TextField(null=True, unique=False)),
                ('csv_delimiter', fields.CharField(default=';', max_length=4)),
                ('csv_thousands_separator', fields.CharField(default='', max_length=4)),
                ('token_digest', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('downloaded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'key_releases', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Key releases'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='KeyReleaseDevice',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('release', fields.ForeignKeyField('models.KeyRelease', source_field='release_id', db_constraint=True, to_field='id', related_name='items', on_delete=OnDelete.CASCADE)),
                ('device', fields.ForeignKeyField('models.Device', source_field='device_id', db_constraint=True, to_field='id', related_name='releases', on_delete=OnDelete.CASCADE)),
                ('serial_number', fields.CharField(max_length=64)),
            ],
            options={'table': 'key_release_devices', 'app': 'models', 'unique_together': (('release', 'serial_number'),), 'pk_attr': 'id', 'table_description': 'Devices of a key release'},
            bases=['BaseModel'],
        ),
    ]
