"""Verify a captured LoRaWAN join-request against a device's root key.

Join-request PHYPayload: MHDR (1) | JoinEUI (8, little-endian) | DevEUI (8, little-endian) | DevNonce (2)
| MIC (4), where MIC = AES-CMAC(key, MHDR | JoinEUI | DevEUI | DevNonce)[:4]. The key is the AppKey in
LoRaWAN 1.0.x and the NwkKey in 1.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crypto.primitives import aes_cmac, constant_time_equal
from crypto.secret import as_bytes
from plugins.base import DeviceType, KeyMap, Verification
from plugins.lorawan.device_types import is_1_1

METHOD = "lorawan-join-mic"
JOIN_REQUEST_LENGTH = 23
MTYPE_JOIN_REQUEST = 0b000


def join_request_mic(key: bytes, phy_payload: bytes) -> bytes:
    """The 4-byte MIC a join-request's first 19 bytes should carry under ``key``."""
    return aes_cmac(key, phy_payload[:19])[:4]


def verify_frame(device_type: DeviceType, attrs: Mapping[str, Any], keys: KeyMap, frame: bytes) -> Verification:
    """Check a join-request's MIC with the device's root key.

    Args:
        device_type: The device's type.
        attrs: Validated identifiers; a join-request from another DevEUI or JoinEUI is refused.
        keys: Keys by slot.
        frame: The join-request PHYPayload (23 bytes).

    Returns:
        The outcome; ``ok`` is True only when the MIC matches.
    """
    key_type = "NwkKey" if is_1_1(attrs) else "AppKey"
    if key_type not in keys:
        return Verification(False, None, METHOD, f"no {key_type} to verify with")
    if len(frame) != JOIN_REQUEST_LENGTH or frame[0] >> 5 != MTYPE_JOIN_REQUEST:
        return Verification(False, key_type, METHOD, "frame is not a 23-byte join-request")
    join_eui, dev_eui = frame[1:9][::-1].hex().upper(), frame[9:17][::-1].hex().upper()
    if attrs.get("devEui") and dev_eui != attrs["devEui"]:
        return Verification(False, key_type, METHOD, f"join-request is from DevEUI {dev_eui}")
    if attrs.get("joinEui") and join_eui != attrs["joinEui"]:
        return Verification(False, key_type, METHOD, f"join-request names JoinEUI {join_eui}")
    try:
        ok = constant_time_equal(join_request_mic(as_bytes(keys[key_type]), frame), frame[19:])
    except ValueError as exc:
        return Verification(False, key_type, METHOD, str(exc))
    return Verification(ok, key_type, METHOD, "MIC matches" if ok else "MIC does not match")
