"""Users of the platform."""

from __future__ import annotations

from tortoise import fields

from models.base import BaseModel
from models.organisations import Organisation


class User(BaseModel):
    """A person who logs in. "email" is stored lower-cased, so uniqueness is case-insensitive.

    "roles" is stored as ",ROLE_A,ROLE_B," so one role is found with a portable LIKE match."""

    name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=320, unique=True)
    organisation: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="users", on_delete=fields.RESTRICT
    )
    roles = fields.CharField(max_length=200, default=",")
    language = fields.CharField(max_length=2, default="EN")
    csv_delimiter = fields.CharField(max_length=4, default=";")
    csv_thousands_separator = fields.CharField(max_length=4, default="")
    password_hash = fields.CharField(max_length=255)
    must_change_password = fields.BooleanField(default=True)
    is_active = fields.BooleanField(default=True)
    last_login_at = fields.DatetimeField(null=True)
    password_changed_at = fields.DatetimeField(null=True)
    # Second factor (crypto/totp.py): the sealed secret, set at setup and kept once confirmed; the step of
    # the last accepted code, so each code is good once.
    otp_secret = fields.BinaryField(null=True)
    otp_enabled_at = fields.DatetimeField(null=True)
    otp_last_step = fields.BigIntField(null=True)

    class Meta:
        table = "users"
        table_description = "Users"
        ordering = ["name", "id"]

    @property
    def role_list(self) -> list[str]:
        return [r for r in self.roles.split(",") if r]

    @staticmethod
    def encode_roles(roles: list[str] | set[str] | frozenset[str]) -> str:
        return "," + ",".join(sorted(set(roles))) + ","

    def __repr__(self) -> str:  # never show the password hash
        return f"<User {self.id} {self.email}>"
