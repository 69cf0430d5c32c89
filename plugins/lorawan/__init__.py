"""The LoRaWAN plugin: LoRaWAN 1.0.x and 1.1 devices, join-request verification, network server formats."""

from __future__ import annotations

from plugins.base import Plugin
from plugins.lorawan.device_types import DEVICE_TYPES, PLUGIN, key_slots_for, validate_attributes
from plugins.lorawan.formats import FORMATS
from plugins.lorawan.verify import verify_frame

plugin = Plugin(
    name=PLUGIN,
    device_types=DEVICE_TYPES,
    validate=validate_attributes,
    verify=verify_frame,
    formats=FORMATS,
    key_slots=key_slots_for,
)
