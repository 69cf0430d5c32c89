from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Organisation',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('name', fields.CharField(max_length=200)),
                ('your_reference', fields.CharField(null=True, max_length=200)),
                ('can_create_organisations', fields.BooleanField(default=False)),
                ('parent', fields.ForeignKeyField('models.Organisation', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.RESTRICT)),
                ('path', fields.CharField(db_index=True, max_length=2000)),
            ],
            options={'table': 'organisations', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Organisations in a tree'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('seq', fields.BigIntField(primary_key=True, unique=True, db_index=True)),
                ('id', fields.UUIDField(unique=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('action', fields.CharField(db_index=True, max_length=64)),
                ('actor', fields.CharField(max_length=400)),
                ('actor_user_id', fields.UUIDField(null=True, db_index=True)),
                ('organisation', fields.ForeignKeyField('models.Organisation', source_field='organisation_id', null=True, db_constraint=False, to_field='id', related_name='audit_events', on_delete=OnDelete.RESTRICT)),
                ('organisation_path', fields.CharField(null=True, db_index=True, max_length=2000)),
                ('target', fields.CharField(null=True, max_length=400)),
                ('details', fields.TextField(unique=False)),
                ('prev_hash', fields.CharField(max_length=64)),
                ('hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'audit_events', 'app': 'models', 'pk_attr': 'seq', 'table_description': 'Hash-chained audit log'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Partnership',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('organisation', fields.ForeignKeyField('models.Organisation', source_field='organisation_id', db_constraint=True, to_field='id', related_name='partner_links', on_delete=OnDelete.CASCADE)),
                ('partner', fields.ForeignKeyField('models.Organisation', source_field='partner_id', db_constraint=True, to_field='id', related_name='partner_of_links', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'partnerships', 'app': 'models', 'unique_together': (('organisation', 'partner'),), 'pk_attr': 'id', 'table_description': 'Partner links between organisations'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='RateLimit',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('window_start', fields.BigIntField()),
                ('count', fields.IntField(default=0)),
            ],
            options={'table': 'rate_limits', 'app': 'models', 'pk_attr': 'key', 'table_description': 'Rate limit counters'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('name', fields.CharField(max_length=200)),
                ('email', fields.CharField(unique=True, max_length=320)),
                ('organisation', fields.ForeignKeyField('models.Organisation', source_field='organisation_id', db_constraint=True, to_field='id', related_name='users', on_delete=OnDelete.RESTRICT)),
                ('roles', fields.CharField(default=',', max_length=200)),
                ('language', fields.CharField(default='EN', max_length=2)),
                ('csv_delimiter', fields.CharField(default=';', max_length=4)),
                ('csv_thousands_separator', fields.CharField(default='', max_length=4)),
                ('password_hash', fields.CharField(max_length=255)),
                ('must_change_password', fields.BooleanField(default=True)),
                ('is_active', fields.BooleanField(default=True)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('password_changed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Users'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('name', fields.CharField(max_length=200)),
                ('organisation', fields.ForeignKeyField('models.Organisation', source_field='organisation_id', db_constraint=True, to_field='id', related_name='api_tokens', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', db_constraint=True, to_field='id', related_name='api_tokens', on_delete=OnDelete.CASCADE)),
                ('roles', fields.CharField(default=',', max_length=200)),
                ('prefix', fields.CharField(max_length=32)),
                ('digest', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_tokens', 'app': 'models', 'pk_attr': 'id', 'table_description': 'API tokens'},
            bases=['BaseModel'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('digest', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('client_address', fields.CharField(null=True, max_length=64)),
            ],
            options={'table': 'sessions', 'app': 'models', 'pk_attr': 'digest', 'table_description': 'Browser sessions'},
            bases=['Model'],
        ),
    ]
