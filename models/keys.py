"""Stored device keys (envelope-encrypted) and key releases."""

from __future__ import annotations

from tortoise import fields

from models.base import BaseModel
from models.devices import Device
from models.organisations import Organisation


class DeviceKey(BaseModel):
    """One key slot of a device: AES-256-GCM ciphertext under a data key wrapped by a KEK. The AAD binds
    it to the device id and key slot, so a ciphertext copied to another row does not open."""

    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "models.Device", related_name="keys", on_delete=fields.CASCADE
    )
    key_type = fields.CharField(max_length=32)
    algorithm = fields.CharField(max_length=8)
    ciphertext = fields.BinaryField()
    nonce = fields.BinaryField()
    wrapped_dek = fields.BinaryField()
    kek_id = fields.CharField(max_length=64)
    kek_version = fields.IntField(db_index=True)
    check_value = fields.CharField(max_length=16)

    class Meta:
        table = "device_keys"
        table_description = "Envelope-encrypted device keys"
        unique_together = (("device", "key_type"),)

    def __repr__(self) -> str:
        return f"<DeviceKey {self.key_type} of {self.device_id} kcv={self.check_value}>"  # type: ignore[attr-defined]


class KekVersion(BaseModel):
    """A KEK version the servers share, known by its fingerprint (crypto.kek.fingerprint), never by its key. A
    server whose key file, token or KMS_KEK holds another key under the same id and version stays sealed instead
    of sealing keys that no other server could open (resolvers/keystore.py)."""

    kek_id = fields.CharField(max_length=64)
    version = fields.IntField()
    fingerprint = fields.CharField(max_length=64)

    class Meta:
        table = "kek_versions"
        table_description = "Fingerprints of the KEK versions the servers share"
        unique_together = (("kek_id", "version"),)


class SharedServerSecret(BaseModel):
    """The server secret the servers share (invite links, sealed second factors), known by its fingerprint
    (crypto.server_secret.fingerprint): one row, registered by the first server to start. A server with
    another secret refuses to use it (resolvers/keystore.py)."""

    name = fields.CharField(max_length=32, unique=True)  # "server-secret"
    fingerprint = fields.CharField(max_length=64)

    class Meta:
        table = "shared_server_secrets"
        table_description = "Fingerprint of the server secret the servers share"


class KeyRelease(BaseModel):
    """A release of keys: what was handed out, to whom, and the single-use download token (digest only)."""

    organisation: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="key_releases", on_delete=fields.RESTRICT
    )
    user_id = fields.UUIDField()
    format = fields.CharField(max_length=64)
    filename = fields.CharField(max_length=200)
    device_count = fields.IntField()
    key_count = fields.IntField()
    recipient_certificate = fields.TextField(null=True)  # a public certificate, not a secret
    csv_delimiter = fields.CharField(max_length=4, default=";")
    csv_thousands_separator = fields.CharField(max_length=4, default="")
    token_digest = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    downloaded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "key_releases"
        table_description = "Key releases"


class KeyReleasePart(BaseModel):
    """The devices of a release, a few thousand per row, in the order the file lists them (serial number).
    A release of 100,000 devices writes 20 rows instead of 100,000 and locks no device row; the ids are
    kept, not referenced, like an audit record: the list stays what was released."""

    release: fields.ForeignKeyRelation[KeyRelease] = fields.ForeignKeyField(
        "models.KeyRelease", related_name="parts", on_delete=fields.CASCADE
    )
    seq = fields.IntField()
    device_ids = fields.TextField()  # the ids, comma-separated

    class Meta:
        table = "key_release_parts"
        table_description = "Devices of a key release, in file order"
        unique_together = (("release", "seq"),)
