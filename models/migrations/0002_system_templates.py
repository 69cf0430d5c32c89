"""Seed the 20 system email templates (5 types x EN/DE/ES/SV), all active."""

import uuid

from tortoise import migrations
from tortoise.migrations import operations as ops


async def seed(apps, schema_editor):
    from resolvers.email_rendering import SYSTEM_TEMPLATES

    EmailTemplate = apps.get_model("models", "EmailTemplate")
    for t in SYSTEM_TEMPLATES:
        await EmailTemplate.create(
            id=uuid.uuid4(), name=t.name, type=t.type, language=t.language, subject=t.subject, body=t.body,
            active=True, is_system=True, organisation_id=None, using_db=schema_editor.client,
        )


async def unseed(apps, schema_editor):
    EmailTemplate = apps.get_model("models", "EmailTemplate")
    await EmailTemplate.filter(is_system=True).using_db(schema_editor.client).delete()


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [ops.RunPython(seed, unseed)]
