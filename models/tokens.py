"""API tokens for partners and scripts."""

from __future__ import annotations

from tortoise import fields

from models.base import BaseModel
from models.organisations import Organisation
from models.users import User


class ApiToken(BaseModel):
    """A bearer token. Only the SHA-256 digest of the secret is stored; "prefix" lets a person
    recognise it."""

    name = fields.CharField(max_length=200)
    organisation: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="api_tokens", on_delete=fields.CASCADE
    )
    created_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="api_tokens", on_delete=fields.CASCADE
    )
    roles = fields.CharField(max_length=200, default=",")
    prefix = fields.CharField(max_length=32)
    digest = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_tokens"
        table_description = "API tokens"
        ordering = ["-created_at", "id"]

    @property
    def role_list(self) -> list[str]:
        return [r for r in self.roles.split(",") if r]
