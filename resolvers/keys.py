"""Releasing keys (the only way key material leaves), the download stream, and verifying a key."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from tortoise.transactions import in_transaction

from crypto import cms, tokens
from crypto.envelope import SealedKey, open_sealed
from crypto.errors import CryptoError
from crypto.kcv import KeyAlgorithm
from crypto.kek import KekRing
from crypto.secret import SecretBytes
from models.devices import Device
from models.keys import DeviceKey, KeyRelease, KeyReleaseDevice
from models.users import User
from plugins.base import ExportContext, ExportOptions, KeyFormat, KeyRecord, Verification
from plugins.registry import PluginRegistry, UnknownFormat
from resolvers import _scope, audit
from resolvers.actor import Actor
from resolvers.devices import DeviceFilter, Refused, _owned, _uuid, filtered
from resolvers.errors import BadInput, KmsError

MAX_RELEASE_IDS = 100_000
MAX_REFUSED_LISTED = 10_000
AUDIT_CHECK_VALUES = 1_000
DOWNLOAD_PREFIX = "kms_dl"
_CHUNK = 1_000
_TEXT_TYPES = ("text/", "application/json", "application/x-ndjson")


@dataclass(frozen=True)
class ReleaseRequest:
    device_ids: Sequence[str] | None
    filter: DeviceFilter | None
    format_id: str
    recipient_certificate: str | None


@dataclass(frozen=True)
class ReleasePolicy:
    inline_limit: int
    ttl_seconds: int


@dataclass
class Release:
    model: KeyRelease
    key_format: KeyFormat
    refused: list[Refused]
    token: str


def is_text(key_format: KeyFormat, enveloped: bool) -> bool:
    return enveloped or key_format.media_type.startswith(_TEXT_TYPES)


async def _candidates(actor: Actor, request: ReleaseRequest) -> tuple[list[Device], list[Refused]]:
    """Devices that may be released and the refused ones, each with its reason."""
    refused: list[Refused] = []
    eligible: list[Device] = []
    if request.device_ids is not None:
        if len(request.device_ids) > MAX_RELEASE_IDS:
            raise BadInput("deviceIds", f"At most {MAX_RELEASE_IDS} devices per release.")
        ids = list(dict.fromkeys(_uuid(i, "deviceIds") for i in request.device_ids))
        for start in range(0, len(ids), _CHUNK):
            owned, not_owned, unknown = await _owned(actor, ids[start : start + _CHUNK])
            refused += not_owned + [Refused(str(i), "DEVICE_NOT_FOUND") for i in unknown]
            eligible += owned.values()
    else:
        # "Download all your keys": the filter within the caller's own organisation's devices.
        query = filtered(actor, request.filter or DeviceFilter()).filter(owner_id=actor.organisation_id)
        eligible = list(await query.order_by("serial_number").limit(MAX_RELEASE_IDS + 1))
        if len(eligible) > MAX_RELEASE_IDS:
            raise BadInput("filter", f"At most {MAX_RELEASE_IDS} devices per release; narrow the filter.")
    released = []
    for device in eligible:
        if device.claim_status != "CLAIMED":
            refused.append(Refused(device.serial_number, "DEVICE_UNCLAIMED"))
        else:
            released.append(device)
    return sorted(released, key=lambda d: d.serial_number), refused


async def release_keys(
    actor: Actor,
    request: ReleaseRequest,
    user: User,
    *,
    ring: KekRing,
    registry: PluginRegistry,
    policy: ReleasePolicy,
) -> Release:
    """Hand out the keys of CLAIMED devices of the caller's organisation. The release and its audit event
    commit together: if the audit cannot be written, nothing is released."""
    try:
        key_format = registry.format(request.format_id)
    except UnknownFormat:
        raise BadInput("format", f"Unknown key format {request.format_id!r}.") from None
    subject = None
    if request.recipient_certificate:
        try:
            subject = cms.subject_of(request.recipient_certificate)
        except CryptoError as exc:
            raise BadInput("recipientCertificate", str(exc)) from None
    devices, refused = await _candidates(actor, request)
    types = {t.id: t for t in registry.device_types()}
    fitting = []
    for device in devices:
        device_type = types.get(device.device_type)
        if device_type is None or device_type.radio not in key_format.radios:
            refused.append(Refused(device.serial_number, "BAD_USER_INPUT"))  # the format cannot hold its keys
        else:
            fitting.append(device)
    if not fitting:
        raise KmsError(
            "No key can be released: every device was refused.",
            code="NOTHING_TO_RELEASE",
            refused=[{"serialNumber": r.serial_number, "reason": r.reason} for r in refused[:1000]],
        )
    check_values = await _check_values(fitting)
    token, digest = tokens.new_token(DOWNLOAD_PREFIX)
    now = datetime.now(UTC)
    extension = key_format.file_extension + (".p7m" if subject else "")
    async with in_transaction():
        release = await KeyRelease.create(
            organisation_id=actor.organisation_id,
            user_id=actor.user_id,
            format=key_format.id,
            filename=f"keys-{now:%Y%m%d-%H%M%S}-{len(fitting)}.{extension}",
            device_count=len(fitting),
            key_count=len(check_values),
            recipient_certificate=request.recipient_certificate,
            csv_delimiter=user.csv_delimiter,
            csv_thousands_separator=user.csv_thousands_separator,
            token_digest=digest,
            expires_at=now + timedelta(seconds=policy.ttl_seconds),
        )
        await KeyReleaseDevice.bulk_create(
            [KeyReleaseDevice(release_id=release.id, device_id=d.id, serial_number=d.serial_number) for d in fitting],
            batch_size=_CHUNK,
        )
        await audit.record(
            "keys.released",
            actor,
            target=f"release:{release.id}",
            details=_audit_details(release, fitting, check_values, refused, actor, subject),
        )
    return Release(release, key_format, refused[:MAX_REFUSED_LISTED], token)


def _audit_details(
    release: KeyRelease,
    devices: list[Device],
    check_values: list[str],
    refused: list[Refused],
    actor: Actor,
    subject: str | None,
) -> dict[str, object]:
    details: dict[str, object] = {
        "format": release.format,
        "deviceCount": len(devices),
        "keyCount": len(check_values),
        "refusedCount": len(refused),
        "clientAddress": actor.client_address,
        "serialNumbers": [d.serial_number for d in devices[:AUDIT_CHECK_VALUES]],
        "checkValues": check_values[:AUDIT_CHECK_VALUES],
        # All check values in release order, hashed: a large release stays verifiable without a huge row.
        "checkValuesSha256": hashlib.sha256("\n".join(check_values).encode()).hexdigest(),
    }
    if subject:
        details["recipient"] = subject
    return details


async def _check_values(devices: list[Device]) -> list[str]:
    values: list[str] = []
    for start in range(0, len(devices), _CHUNK):
        chunk = [d.id for d in devices[start : start + _CHUNK]]
        rows = await DeviceKey.filter(device_id__in=chunk).values_list("device_id", "key_type", "check_value")
        by_device: dict[UUID, list[tuple[str, str]]] = {}
        for device_id, key_type, check_value in rows:
            by_device.setdefault(device_id, []).append((key_type, check_value))
        for device_id in chunk:
            values += [kcv for _, kcv in sorted(by_device.get(device_id, []))]
    return values


async def _records(release: KeyRelease, ring: KekRing) -> AsyncIterator[KeyRecord]:
    """The release's keys in serial order, decrypted chunk by chunk (memory stays flat)."""
    after = ""
    while True:
        items = (
            await KeyReleaseDevice.filter(release_id=release.id, serial_number__gt=after)
            .order_by("serial_number")
            .limit(_CHUNK)
            .values_list("device_id", "serial_number")
        )
        if not items:
            return
        ids = [i[0] for i in items]
        devices = {d.id: d for d in await Device.filter(id__in=ids)}
        keys: dict[UUID, list[DeviceKey]] = {}
        for key in await DeviceKey.filter(device_id__in=ids).order_by("key_type"):
            keys.setdefault(key.device_id, []).append(key)  # type: ignore[attr-defined]
        for device_id, _serial in items:
            device = devices[device_id]
            attributes = json.loads(device.attributes)
            for key in keys.get(device_id, []):
                yield KeyRecord(
                    device.serial_number,
                    device.device_type,
                    key.key_type,
                    KeyAlgorithm(key.algorithm),
                    _open(key, ring),
                    attributes,
                )
        after = items[-1][1]


def _open(key: DeviceKey, ring: KekRing) -> SecretBytes:
    sealed = SealedKey(bytes(key.ciphertext), bytes(key.nonce), bytes(key.wrapped_dek), key.kek_id, key.kek_version)
    return open_sealed(sealed, device_id=str(key.device_id), key_type=key.key_type, kek_resolver=ring)  # type: ignore[attr-defined]


async def stream_file(
    release: KeyRelease, key_format: KeyFormat, registry: PluginRegistry, ring: KekRing
) -> AsyncIterator[bytes]:
    """The release's file as chunks. A CMS envelope needs the whole plaintext first: it is built in a
    spooled temporary file (memory up to 8 MB, then disk) and enveloped at the end."""
    ctx = ExportContext(
        ExportOptions(csv_delimiter=release.csv_delimiter or ";", thousands_separator=release.csv_thousands_separator),
        {t.id: t for t in registry.device_types()},
    )
    writer = key_format.writer()

    async def chunks() -> AsyncIterator[bytes]:
        for part in writer.header(ctx):
            yield part.encode() if isinstance(part, str) else part
        async for record in _records(release, ring):
            for part in writer.rows(record):
                yield part.encode() if isinstance(part, str) else part
        for part in writer.footer():
            yield part.encode() if isinstance(part, str) else part

    if not release.recipient_certificate:
        async for chunk in chunks():
            yield chunk
        return
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as buffer:
        async for chunk in chunks():
            buffer.write(chunk)
        buffer.seek(0)
        yield cms.envelope(buffer.read(), release.recipient_certificate)


async def inline_content(release: Release, registry: PluginRegistry, ring: KekRing, limit: int) -> str | None:
    """The file as text when it is small and textual, for the mutation's ``content`` field."""
    if release.model.key_count > limit or not is_text(release.key_format, bool(release.model.recipient_certificate)):
        return None
    parts = [chunk async for chunk in stream_file(release.model, release.key_format, registry, ring)]
    return b"".join(parts).decode("utf-8")


async def claim_download(token: str) -> KeyRelease:
    """Use a download token once: one guarded UPDATE, so two requests cannot both get the file."""
    digest = tokens.token_digest(token)
    now = datetime.now(UTC)
    used = await KeyRelease.filter(token_digest=digest, downloaded_at__isnull=True, expires_at__gt=now).update(
        downloaded_at=now
    )
    if used != 1:
        raise KmsError("This download link is unknown, used or expired.", code="TOKEN_INVALID")
    return await KeyRelease.get(token_digest=digest)


async def verify_device_key(
    actor: Actor, device_id: str, frame_hex: str, *, ring: KekRing, registry: PluginRegistry
) -> Verification:
    """Check a captured frame against the stored keys without revealing them; audited."""
    device = await _scope.device(actor, device_id)
    if device.owner_id != actor.organisation_id:  # type: ignore[attr-defined]
        raise KmsError("The device belongs to another organisation.", code="DEVICE_NOT_OWNED")
    text = frame_hex.strip().replace(" ", "")
    try:
        frame = bytes.fromhex(text)
    except ValueError:
        raise BadInput("frame", "The frame must be hex.") from None
    if not frame or len(frame) > 512:
        raise BadInput("frame", "The frame must have 1 to 512 bytes.")
    keys = {k.key_type: _open(k, ring) for k in await DeviceKey.filter(device_id=device.id)}
    result = registry.verify_frame(device.device_type, json.loads(device.attributes), keys, frame)
    async with in_transaction():
        await audit.record(
            "key.verified",
            actor,
            target=f"device:{device.id}",
            details={
                "serialNumber": device.serial_number,
                "ok": result.ok,
                "method": result.method,
                "keyType": result.key_type,
            },
        )
    return result
