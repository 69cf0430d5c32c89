"""Invites: a time-limited signup link for a new user of an organisation."""

from __future__ import annotations

from tortoise import fields

from models.base import BaseModel
from models.organisations import Organisation
from models.users import User


class Invite(BaseModel):
    """Only the SHA-256 digest of the signup token is stored. The token itself is an HMAC of the invite id
    under the server secret, so an admin can copy the link again from the review page."""

    name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=320, null=True)
    organisation: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="invites", on_delete=fields.CASCADE
    )
    roles = fields.CharField(max_length=200, default=",")
    language = fields.CharField(max_length=2, default="EN")
    state = fields.CharField(max_length=16, default="PREPARED", db_index=True)
    token_digest = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="invites_created", null=True, on_delete=fields.SET_NULL
    )
    sent_at = fields.DatetimeField(null=True)
    accepted_at = fields.DatetimeField(null=True)
    accepted_user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="accepted_invites", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "invites"
        table_description = "User invites"
        ordering = ["-created_at", "id"]


class AccountToken(BaseModel):
    """Single-use tokens mailed to a user: password reset and confirmation of a new email address."""

    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="account_tokens", on_delete=fields.CASCADE
    )
    purpose = fields.CharField(max_length=32)  # RESET_PASSWORD or CONFIRM_EMAIL
    digest = fields.CharField(max_length=64, unique=True)
    new_email = fields.CharField(max_length=320, null=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "account_tokens"
        table_description = "Password reset and email confirmation tokens"
