"""Checking a captured frame against a device's stored keys without revealing them; audited."""

from __future__ import annotations

import json

from tortoise.transactions import in_transaction

from crypto.envelope import SealedKey, open_sealed
from crypto.kek import KekResolver
from crypto.secret import SecretBytes
from models.keys import DeviceKey
from plugins.base import Verification
from plugins.registry import PluginRegistry
from resolvers import _scope, audit
from resolvers.actor import Actor
from resolvers.errors import BadInput, KmsError


def _open(key: DeviceKey, ring: KekResolver) -> SecretBytes:
    sealed = SealedKey(bytes(key.ciphertext), bytes(key.nonce), bytes(key.wrapped_dek), key.kek_id, key.kek_version)
    return open_sealed(sealed, device_id=str(key.device_id), key_type=key.key_type, kek_resolver=ring)  # type: ignore[attr-defined]


async def verify_device_key(
    actor: Actor, device_id: str, frame_hex: str, *, ring: KekResolver, registry: PluginRegistry
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
