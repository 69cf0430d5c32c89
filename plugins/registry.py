"""Finds plugins among the built-ins and installed entry points and enables those on an allowlist.

Plugins handle key material, so nothing is enabled because it happens to be installed (NetBox's caution):
the configuration names each plugin to enable. Built-ins (``oms``, ``lorawan``) are modules of this
package; third-party plugins publish a ``Plugin`` object (or a module exposing ``plugin``) under the
entry-point group ``meter_kms.plugins``, with the entry-point name as the plugin name. A built-in name
always means the built-in: an entry point cannot replace it. The ``core`` plugin (generic CSV) is always
enabled.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from plugins.base import (
    DeviceType,
    ExportContext,
    ExportOptions,
    KeyFormat,
    KeyMap,
    KeySlot,
    Plugin,
    Radio,
    Verification,
)

ENTRY_POINT_GROUP = "meter_kms.plugins"
DEFAULT_ENABLED = ("oms", "lorawan")
ALWAYS_ENABLED = ("core",)
BUILTINS = {"core": "plugins.core", "oms": "plugins.oms", "lorawan": "plugins.lorawan"}


class PluginError(Exception):
    """A plugin cannot be found or loaded, or clashes with another."""


class UnknownDeviceType(LookupError):
    """No enabled plugin declares this device type."""


class UnknownFormat(LookupError):
    """No enabled plugin offers this key format."""


def _as_plugin(obj: object, name: str) -> Plugin:
    if isinstance(obj, ModuleType):
        obj = getattr(obj, "plugin", None)
    if not isinstance(obj, Plugin):
        raise PluginError(f"Plugin {name!r} does not provide a plugins.base.Plugin.")
    if obj.name != name:
        raise PluginError(f"Plugin registered as {name!r} calls itself {obj.name!r}.")
    return obj


class PluginRegistry:
    """Lookups over a fixed set of enabled plugins.

    Args:
        plugins: The enabled plugins.

    Raises:
        PluginError: Two plugins share a name, a device type id or a format id.
    """

    def __init__(self, plugins: Iterable[Plugin]) -> None:
        self._plugins: dict[str, Plugin] = {}
        self._device_types: dict[str, DeviceType] = {}
        self._formats: dict[str, KeyFormat] = {}
        for plugin in plugins:
            self._add(plugin)

    def _add(self, plugin: Plugin) -> None:
        if plugin.name in self._plugins:
            raise PluginError(f"Plugin {plugin.name!r} is enabled twice.")
        self._plugins[plugin.name] = plugin
        for device_type in plugin.device_types:
            if device_type.id in self._device_types:
                raise PluginError(f"Device type {device_type.id!r} is declared twice.")
            self._device_types[device_type.id] = device_type
        for key_format in plugin.formats:
            if key_format.id in self._formats:
                raise PluginError(f"Key format {key_format.id!r} is declared twice.")
            self._formats[key_format.id] = key_format

    @property
    def plugins(self) -> tuple[Plugin, ...]:
        """Enabled plugins in the order they were enabled."""
        return tuple(self._plugins.values())

    def device_types(self) -> tuple[DeviceType, ...]:
        """All device types of the enabled plugins."""
        return tuple(self._device_types.values())

    def device_type(self, device_type_id: str) -> DeviceType:
        """The device type with this id; raises ``UnknownDeviceType``."""
        try:
            return self._device_types[device_type_id]
        except KeyError:
            raise UnknownDeviceType(device_type_id) from None

    def formats(self, radio: Radio | None = None) -> tuple[KeyFormat, ...]:
        """All key formats, or those that can hold keys of devices on ``radio``."""
        return tuple(f for f in self._formats.values() if radio is None or radio in f.radios)

    def format(self, format_id: str) -> KeyFormat:
        """The key format with this id; raises ``UnknownFormat``."""
        try:
            return self._formats[format_id]
        except KeyError:
            raise UnknownFormat(format_id) from None

    def plugin_for(self, device_type_id: str) -> Plugin:
        """The plugin that declares a device type."""
        return self._plugins[self.device_type(device_type_id).plugin]

    def validate_attributes(self, device_type_id: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a device's identifiers with its plugin; raises ``InvalidAttributes``."""
        return self.plugin_for(device_type_id).validate(self.device_type(device_type_id), attrs)

    def key_slots_for(self, device_type_id: str, attrs: Mapping[str, Any]) -> tuple[KeySlot, ...]:
        """The key slots a device with these (validated) identifiers holds."""
        return self.plugin_for(device_type_id).key_slots(self.device_type(device_type_id), attrs)

    def verify_frame(self, device_type_id: str, attrs: Mapping[str, Any], keys: KeyMap, frame: bytes) -> Verification:
        """Verify a captured frame against a device's keys with its plugin."""
        return self.plugin_for(device_type_id).verify(self.device_type(device_type_id), attrs, keys, frame)

    def identifiers(self, device_type_id: str, attrs: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        """A device's non-secret identifiers as its plugin names them; none for an unknown type."""
        try:
            plugin, device_type = self.plugin_for(device_type_id), self.device_type(device_type_id)
        except UnknownDeviceType:
            return ()
        return plugin.identifiers(device_type, attrs)

    def console_modules(self) -> tuple[tuple[str, str], ...]:
        """(plugin name, file name) of every console module the enabled plugins declare, in order."""
        return tuple((p.name, module) for p in self._plugins.values() for module in p.console_modules)

    def console_module(self, plugin_name: str, file_name: str) -> Path | None:
        """The file of a declared console module of an enabled plugin, or None (never another file)."""
        plugin = self._plugins.get(plugin_name)
        if plugin is None or plugin.console_dir is None or file_name not in plugin.console_modules:
            return None
        path = Path(plugin.console_dir) / file_name
        return path if path.is_file() else None

    def export_context(self, options: ExportOptions) -> ExportContext:
        """An export context over this registry's device types."""
        return ExportContext(options=options, device_types=dict(self._device_types))


def load_plugins(
    enabled: Sequence[str] = DEFAULT_ENABLED, *, available: Iterable[EntryPoint] | None = None
) -> PluginRegistry:
    """Build the registry of the enabled plugins.

    Args:
        enabled: Plugin names to enable, from configuration.
        available: Entry points to choose from; defaults to the installed ``meter_kms.plugins`` group.

    Returns:
        The registry.

    Raises:
        PluginError: A name is neither built in nor installed, or a plugin fails to load or clashes.
    """
    points = {
        ep.name: ep
        for ep in (entry_points(group=ENTRY_POINT_GROUP) if available is None else available)
        if ep.group == ENTRY_POINT_GROUP and ep.name not in BUILTINS
    }
    plugins: list[Plugin] = []
    for name in dict.fromkeys((*ALWAYS_ENABLED, *enabled)):
        if name in BUILTINS:
            plugins.append(_as_plugin(importlib.import_module(BUILTINS[name]), name))
        elif name in points:
            try:
                loaded = points[name].load()
            except Exception as exc:
                raise PluginError(f"Plugin {name!r} failed to load: {exc}") from exc
            plugins.append(_as_plugin(loaded, name))
        else:
            raise PluginError(f"Plugin {name!r} is enabled but neither built in nor installed.")
    return PluginRegistry(plugins)
