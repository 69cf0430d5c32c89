"""Devices (meters and radio modules) and their labels."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.base import BaseModel
from models.organisations import Organisation


class Device(BaseModel):
    """A device owned by one organisation. "owner_path" copies the owner's materialised path so the
    catalog of a subtree is one indexed prefix match. On PostgreSQL the owner and the batch are checked
    through device_counts, once per group of devices instead of once per device (migration 0011), and each
    row also carries ``label_names``, the names of its labels, which triggers keep from device_labels for the
    label counts (migration 0013); the ORM neither reads nor writes that column."""

    serial_number = fields.CharField(max_length=64, unique=True)
    device_type = fields.CharField(max_length=64, db_index=True)
    # owner's and batch's on_delete hold for SQLite's per-device keys; PostgreSQL refuses both deletes (0011)
    owner: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="devices", on_delete=fields.RESTRICT
    )
    owner_path = fields.CharField(max_length=2000)
    claim_status = fields.CharField(max_length=16, default="UNCLAIMED")
    claimed_at = fields.DatetimeField(null=True)
    attributes = fields.TextField(default="{}")  # JSON of the type's identifiers (DevEUI, M-Bus ID, ...)
    batch: fields.ForeignKeyNullableRelation[BatchReference] = fields.ForeignKeyField(
        "models.BatchReference", related_name="devices", null=True, on_delete=fields.SET_NULL
    )  # the batch the device arrived in (or was last put in by its owner)
    # a batch the device waits in for another organisation to take ownership (migration 0017; batches are
    # never deleted, and a take or a withdrawal empties it)
    pending_batch_id = fields.UUIDField(null=True)

    class Meta:
        table = "devices"
        table_description = "Devices"
        indexes = (
            # a subtree's devices, and one organisation's in serial order (owner_path = its path; migration 0012)
            Index(fields=("owner_path", "serial_number")),
            # no index holds claim_status: a claim is then a heap-only update (migration 0009)
        )


class DeviceLabel(BaseModel):
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="labels", on_delete=fields.CASCADE
    )
    label = fields.CharField(max_length=100, db_index=True)

    class Meta:
        table = "device_labels"
        table_description = "Labels of devices"
        unique_together = (("device", "label"),)


class BatchReference(BaseModel):
    """Serial numbers grouped under a reference and addressed to an organisation."""

    reference = fields.CharField(max_length=100)
    label = fields.CharField(max_length=100, null=True)
    organisation: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="batches", on_delete=fields.RESTRICT
    )
    sender: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="batches_sent", on_delete=fields.RESTRICT
    )
    requires_confirmation = fields.BooleanField(default=False)
    state = fields.CharField(max_length=32, default="ACCEPTED")
    device_count = fields.IntField(default=0)
    accepted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "batch_references"
        table_description = "Batch references"
        unique_together = (("organisation", "reference"),)
        ordering = ["-created_at", "id"]


class DeviceCount(Model):
    """How many devices each organisation has per claim status, device type and batch. Database triggers
    keep it exact on every insert, update and delete of a device (migrations 0005 and 0007), so a catalog
    page can show its total and the facets their counts without counting a million rows."""

    key = fields.CharField(max_length=200, primary_key=True)  # "owner_id|claim_status|device_type|batch_id"
    owner: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="device_counts", on_delete=fields.CASCADE, db_constraint=False
    )  # the database has a key all the same (tortoise's migrations ignore db_constraint): ON DELETE CASCADE on
    # SQLite; on PostgreSQL one without ON DELETE, through which the devices' owners are checked (migration 0011)
    claim_status = fields.CharField(max_length=16)
    device_type = fields.CharField(max_length=64)
    batch_id = fields.UUIDField(null=True)  # PostgreSQL: a key to batch_references (migration 0011)
    n = fields.BigIntField(default=0)

    class Meta:
        table = "device_counts"
        table_description = "Device counts per owner, claim status, type and batch"


class DeviceLabelCount(Model):
    """How many devices carry each label, per owner, claim status, device type and batch; kept exact by
    triggers on devices and device_labels (migration 0007) for the labels facet."""

    key = fields.CharField(max_length=320, primary_key=True)  # "owner_id|claim_status|device_type|batch_id|label"
    owner: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="device_label_counts", on_delete=fields.CASCADE, db_constraint=False
    )
    claim_status = fields.CharField(max_length=16)
    device_type = fields.CharField(max_length=64)
    batch_id = fields.UUIDField(null=True)
    label = fields.CharField(max_length=100)
    n = fields.BigIntField(default=0)

    class Meta:
        table = "device_label_counts"
        table_description = "Labelled device counts per owner, claim status, type, batch and label"
