"""Email templates: 20 system templates (seeded by a migration) and organisations' own copies."""

from __future__ import annotations

from tortoise import fields

from models.base import BaseModel
from models.organisations import Organisation


class EmailTemplate(BaseModel):
    name = fields.CharField(max_length=200)
    type = fields.CharField(max_length=32, db_index=True)  # CONFIRM_EMAIL, INVITE_USER, ...
    language = fields.CharField(max_length=2)
    subject = fields.CharField(max_length=500)
    body = fields.TextField()
    active = fields.BooleanField(default=False)
    is_system = fields.BooleanField(default=False)
    organisation: fields.ForeignKeyNullableRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="email_templates", null=True, on_delete=fields.CASCADE
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "email_templates"
        table_description = "Email templates"
        ordering = ["type", "language", "name", "id"]
