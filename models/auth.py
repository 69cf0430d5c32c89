"""Server-side sessions and rate-limit counters: state that must be shared by every server process."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.users import User


class Session(Model):
    """A browser session. The primary key is the SHA-256 digest of the cookie value; the cookie
    itself is never stored."""

    digest = fields.CharField(max_length=64, primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    client_address = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "sessions"
        table_description = "Browser sessions"


class RateLimit(Model):
    """A fixed-window counter per key (e.g. failed logins of one account or one client address)."""

    key = fields.CharField(max_length=128, primary_key=True)
    window_start = fields.BigIntField()  # epoch seconds: portable in hand-written SQL
    count = fields.IntField(default=0)

    class Meta:
        table = "rate_limits"
        table_description = "Rate limit counters"
