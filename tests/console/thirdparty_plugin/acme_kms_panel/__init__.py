"""ACME heat meters: a third-party Meter KMS plugin with a console panel (for the console tests)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plugins.base import DeviceType, InvalidAttributes, KeyAlgorithm, KeySlot, Plugin, Radio

HEAT_METER = DeviceType(
    id="acme-heat-meter",
    name="ACME Heat 3000",
    product="ACME HEAT",
    radio=Radio.MBUS,
    key_slots=(KeySlot("MBUS", KeyAlgorithm.AES128),),
    plugin="acme",
)


def validate(device_type: DeviceType, attrs: Mapping[str, Any]) -> dict[str, Any]:
    for name in sorted(set(attrs) - {"meterCode", "loop"}):
        raise InvalidAttributes(name, "unknown attribute")
    if not attrs.get("meterCode"):
        raise InvalidAttributes("meterCode", "is required")
    return {"meterCode": str(attrs["meterCode"]).upper(), "loop": str(attrs.get("loop") or "primary")}


def identifiers(device_type: DeviceType, attrs: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return (("meterCode", str(attrs.get("meterCode", ""))), ("loop", str(attrs.get("loop", ""))))


plugin = Plugin(
    name="acme",
    device_types=(HEAT_METER,),
    validate=validate,
    identifiers=identifiers,
    console_dir=str(Path(__file__).parent / "console"),
    console_modules=("panel.js",),
)
