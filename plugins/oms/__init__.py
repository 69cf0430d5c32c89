"""The OMS plugin: wireless and wired M-Bus meters with OMS security modes 5 and 7."""

from __future__ import annotations

from plugins.base import Plugin
from plugins.oms.device_types import DEVICE_TYPES, PLUGIN, validate_attributes
from plugins.oms.formats import FORMATS
from plugins.oms.verify import verify_frame

plugin = Plugin(
    name=PLUGIN,
    device_types=DEVICE_TYPES,
    validate=validate_attributes,
    verify=verify_frame,
    formats=FORMATS,
)
