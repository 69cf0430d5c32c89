"""Organisations form a tree; partners are organisations linked by ID."""

from __future__ import annotations

from uuid import UUID

from tortoise import fields

from models.base import BaseModel


class Organisation(BaseModel):
    """An organisation. "path" is the materialised path of ids from the root ("/a/b/c/"),
    so a subtree is one indexed prefix match instead of a recursive query."""

    name = fields.CharField(max_length=200)
    your_reference = fields.CharField(max_length=200, null=True)
    can_create_organisations = fields.BooleanField(default=False)
    parent: fields.ForeignKeyNullableRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    parent_id: UUID | None  # the foreign key's column, which Tortoise sets on every instance
    path = fields.CharField(max_length=2000, db_index=True)

    class Meta:
        table = "organisations"
        table_description = "Organisations in a tree"
        ordering = ["name", "id"]


class Partnership(BaseModel):
    """ "organisation" added "partner" by its ID: the partner becomes addressable and visible
    (name and ID only) to "organisation"'s subtree. The link is one-way."""

    organisation: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="partner_links", on_delete=fields.CASCADE
    )
    partner: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="partner_of_links", on_delete=fields.CASCADE
    )

    class Meta:
        table = "partnerships"
        table_description = "Partner links between organisations"
        unique_together = (("organisation", "partner"),)
