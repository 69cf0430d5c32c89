"""The mail outbox: every mail is first a row written in the transaction of the change that causes it."""

from __future__ import annotations

from tortoise import fields

from models.base import BaseModel


class OutboxMessage(BaseModel):
    """A mail to send. Workers claim rows (row locks on PostgreSQL), send, and mark them SENT or, after
    the last try, FAILED. Bodies are cleared once sent: they may carry single-use links."""

    to = fields.CharField(max_length=320)
    subject = fields.CharField(max_length=500)
    html = fields.TextField()
    text = fields.TextField()
    email_type = fields.CharField(max_length=32, null=True)
    template_id = fields.UUIDField(null=True)
    recipient_user_id = fields.UUIDField(null=True)
    organisation_id = fields.UUIDField(null=True)
    status = fields.CharField(max_length=16, default="PENDING", db_index=True)  # PENDING, SENT, FAILED
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    locked_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, null=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox"
        table_description = "Mail outbox"
        ordering = ["next_attempt_at", "id"]
