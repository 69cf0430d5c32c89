"""OMS / wireless M-Bus and wired M-Bus device types of the compatible products, and their identifiers.

Each device holds one key in the slot ``OMS``: the AES-128 key of OMS security modes 5 and 7 (for mode 7
it is the master key the per-message keys are derived from). The legacy type holds a DES key (the
pre-OMS-4 DES modes), kept so such meters' keys can be stored and released; frames are not verified
for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from plugins.base import DeviceType, InvalidAttributes, KeyAlgorithm, KeySlot, Radio

PLUGIN = "oms"
OMS_SLOT = KeySlot("OMS", KeyAlgorithm.AES128, description="OMS key (security modes 5 and 7)")
DES_SLOT = KeySlot("OMS", KeyAlgorithm.DES, description="Legacy DES key")

MEDIA = ("water", "heat", "warm water", "cold water", "electricity", "gas")
ATTRIBUTES = frozenset({"mbusId", "manufacturer", "version", "medium"})


def _type(type_id: str, name: str, product: str, radio: Radio, medium: str, **hints: str) -> DeviceType:
    slot = DES_SLOT if hints.pop("legacy_des", "") else OMS_SLOT
    return DeviceType(
        id=type_id,
        name=name,
        product=product,
        radio=radio,
        key_slots=(slot,),
        plugin=PLUGIN,
        hints={"medium": medium, "wmbusmeters_driver": "auto", **hints},
    )


DEVICE_TYPES = (
    _type("topas-sonic-mbus", "TOPAS Mbus", "TOPAS SONIC", Radio.MBUS, "water"),
    _type("topas-sonic-wmbus", "TOPAS wM-Bus", "TOPAS SONIC", Radio.WMBUS, "water"),
    _type("rubin-sonic-wmbus", "RUBIN SONIC wM-Bus", "RUBIN SONIC", Radio.WMBUS, "water"),
    _type("aquastream-wmbus", "Aquastream WM-Bus", "aquastream", Radio.WMBUS, "water"),
    _type("aquaradio-multicom", "aquaradio Multicom", "aquaradio Multicom", Radio.WMBUS, "water"),
    _type("amtron-sonic-d-wmbus", "AMTRON SONIC D", "AMTRON SONIC D", Radio.WMBUS, "heat"),
    _type("calec-st-iii-wmbus", "CalecST III WM-Bus", "CALEC ST III", Radio.WMBUS, "heat"),
    _type(
        "aquaradio-legacy-des",
        "aquaradio (legacy DES)",
        "aquaradio Multicom",
        Radio.WMBUS,
        "water",
        legacy_des="1",
    ),
)

_MBUS_ID = re.compile(r"[0-9]{8}")
_MANUFACTURER = re.compile(r"[A-Za-z]{3}")


def _mbus_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 99_999_999:
        # JSON numbers lose leading zeros; the id is 8 BCD digits, so pad them back.
        return f"{value:08d}"
    if isinstance(value, str) and _MBUS_ID.fullmatch(value.strip()):
        return value.strip()
    raise InvalidAttributes("mbusId", "must be exactly 8 digits")


def _manufacturer(value: Any) -> str:
    if isinstance(value, str) and _MANUFACTURER.fullmatch(value.strip()):
        return value.strip().upper()
    raise InvalidAttributes("manufacturer", "must be 3 letters (the M-Bus manufacturer code)")


def _version(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255:
        return value
    raise InvalidAttributes("version", "must be an integer from 0 to 255")


def _medium(value: Any) -> str:
    text = " ".join(value.split()).lower() if isinstance(value, str) else ""
    if text in MEDIA:
        return text
    raise InvalidAttributes("medium", f"must be one of: {', '.join(MEDIA)}")


def validate_attributes(device_type: DeviceType, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise OMS identifiers.

    Args:
        device_type: The device's type.
        attrs: ``mbusId`` (8 digits, required), ``manufacturer`` (3 letters), ``version`` (0-255),
            ``medium`` (defaults to the type's medium).

    Returns:
        Normalised attributes: ``mbusId`` as an 8-digit string, ``manufacturer`` upper case, ``version``
        an int, ``medium`` lower case.

    Raises:
        InvalidAttributes: Unknown name, missing ``mbusId`` or a malformed value.
    """
    for name in sorted(set(attrs) - ATTRIBUTES):
        raise InvalidAttributes(name, "unknown attribute")
    if attrs.get("mbusId") in (None, ""):
        raise InvalidAttributes("mbusId", "is required")
    result: dict[str, Any] = {"mbusId": _mbus_id(attrs["mbusId"])}
    if attrs.get("manufacturer") not in (None, ""):
        result["manufacturer"] = _manufacturer(attrs["manufacturer"])
    if attrs.get("version") not in (None, ""):
        result["version"] = _version(attrs["version"])
    medium = attrs.get("medium") or device_type.hints.get("medium")
    if medium:
        result["medium"] = _medium(medium)
    return result
