"""The append-only, hash-chained audit log."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.organisations import Organisation


class AuditEvent(Model):
    """One audited action. "hash" = SHA-256 over the canonical JSON of the event including
    "prev_hash", so editing or deleting any row breaks the chain from there on."""

    id = fields.UUIDField(primary_key=True)
    seq = fields.BigIntField(unique=True)
    at = fields.DatetimeField()
    action = fields.CharField(max_length=64, db_index=True)
    actor = fields.CharField(max_length=400)
    actor_user_id = fields.UUIDField(null=True, db_index=True)
    organisation: fields.ForeignKeyNullableRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation",
        related_name="audit_events",
        null=True,
        on_delete=fields.RESTRICT,
        db_constraint=False,
    )
    organisation_path = fields.CharField(max_length=2000, null=True, db_index=True)
    target = fields.CharField(max_length=400, null=True)
    details = fields.TextField()
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_events"
        table_description = "Hash-chained audit log"
        ordering = ["-seq"]
