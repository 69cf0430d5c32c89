"""Common model parts: UUID primary keys made in Python and timestamps."""

from __future__ import annotations

import uuid

from tortoise import fields
from tortoise.models import Model


class BaseModel(Model):
    """A row with a UUID primary key generated in Python (not by the database) and a creation time."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        abstract = True
