"""LoRaWAN device types of the compatible products, their identifiers and key slots.

Key slots: every type declares ``AppKey`` (required) and ``NwkKey`` (not required). A LoRaWAN 1.0.x device
has a single root key, the AppKey, so only it is generated, stored and released; a 1.1 device has both
root keys (the join-request MIC then uses NwkKey). ``key_slots_for`` applies this rule per device from
its ``lorawanVersion``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from plugins.base import DeviceType, InvalidAttributes, KeyAlgorithm, KeySlot, Radio

PLUGIN = "lorawan"
APP_KEY = KeySlot("AppKey", KeyAlgorithm.AES128, description="LoRaWAN AppKey (root key)")
NWK_KEY = KeySlot("NwkKey", KeyAlgorithm.AES128, required=False, description="LoRaWAN 1.1 NwkKey (root key)")
VERSIONS = ("1.0.2", "1.0.3", "1.0.4", "1.1")
DEFAULT_VERSION = "1.0.3"
ZERO_EUI = "0000000000000000"
ATTRIBUTES = frozenset({"devEui", "joinEui", "lorawanVersion"})


def _type(type_id: str, name: str, product: str) -> DeviceType:
    return DeviceType(
        id=type_id,
        name=name,
        product=product,
        radio=Radio.LORAWAN,
        key_slots=(APP_KEY, NWK_KEY),
        plugin=PLUGIN,
        hints={"lorawan_version": DEFAULT_VERSION},
    )


DEVICE_TYPES = (
    _type("topas-sonic-lora-w8", "TOPAS Lora W8", "TOPAS SONIC"),
    _type("aquastream-lora", "Aquastream LoRa", "aquastream"),
    _type("calec-st-iii-lora", "CalecST III LoRa Module", "CALEC ST III"),
)

_EUI = re.compile(r"[0-9A-Fa-f]{16}")


def _eui(name: str, value: Any) -> str:
    if isinstance(value, str) and _EUI.fullmatch(value.strip()):
        return value.strip().upper()
    raise InvalidAttributes(name, "must be 16 hexadecimal digits")


def validate_attributes(device_type: DeviceType, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise LoRaWAN identifiers.

    Args:
        device_type: The device's type.
        attrs: ``devEui`` (16 hex, required), ``joinEui`` (16 hex, default zeros), ``lorawanVersion``
            (``1.0.2``, ``1.0.3``, ``1.0.4`` or ``1.1``; default the type's, 1.0.3).

    Returns:
        The attributes with EUIs in upper case and every default filled in.

    Raises:
        InvalidAttributes: Unknown name, missing ``devEui`` or a malformed value.
    """
    for name in sorted(set(attrs) - ATTRIBUTES):
        raise InvalidAttributes(name, "unknown attribute")
    if attrs.get("devEui") in (None, ""):
        raise InvalidAttributes("devEui", "is required")
    version = attrs.get("lorawanVersion") or device_type.hints.get("lorawan_version", DEFAULT_VERSION)
    if version not in VERSIONS:
        raise InvalidAttributes("lorawanVersion", f"must be one of: {', '.join(VERSIONS)}")
    return {
        "devEui": _eui("devEui", attrs["devEui"]),
        "joinEui": _eui("joinEui", attrs.get("joinEui") or ZERO_EUI),
        "lorawanVersion": version,
    }


def is_1_1(attrs: Mapping[str, Any]) -> bool:
    """True for LoRaWAN 1.1 devices (two root keys)."""
    return attrs.get("lorawanVersion") == "1.1"


def key_slots_for(device_type: DeviceType, attrs: Mapping[str, Any]) -> tuple[KeySlot, ...]:
    """AppKey for 1.0.x devices; AppKey and NwkKey for 1.1 devices."""
    return (APP_KEY, NWK_KEY) if is_1_1(attrs) else (APP_KEY,)
