"""Accounts by mail: password resets asked for by anonymous callers, queued until the mail worker takes them."""

from __future__ import annotations

from tortoise import fields

from models.base import BaseModel


class PasswordResetRequest(BaseModel):
    """An address somebody asked a reset link for, as typed (trimmed, lower case). Asking only stores this
    row, whether the address belongs to somebody or not, so the answer takes the same time either way; the
    mail worker looks the address up and mails a link if it belongs to an active user (resolvers.accounts)."""

    address = fields.CharField(max_length=320)

    class Meta:
        table = "password_reset_requests"
        table_description = "Password resets asked for, until the mail worker takes them"
        ordering = ["created_at", "id"]
