"""The plugin interface: plain data and pure functions, no database and no GraphQL.

How to write a plugin:
    1. Declare ``DeviceType`` values, each with its ``KeySlot`` tuple (key type and ``KeyAlgorithm``).
    2. Write an attribute validator ``(device_type, attrs) -> dict`` that returns the normalised
       identifiers and raises ``InvalidAttributes(field, message)``; refuse names you do not know.
    3. Optionally write a frame verifier ``(device_type, attrs, keys, frame) -> Verification``; use the
       helpers in ``crypto.primitives`` (never ``cryptography`` directly).
    4. Optionally write key formats: a ``KeyFormat`` whose ``writer()`` returns a fresh object with
       ``header(ctx)``, ``rows(record)`` and ``footer()``, each yielding ``str`` or ``bytes`` chunks.
    5. Bundle them in ``plugin = Plugin(name=..., device_types=..., validate=..., verify=..., formats=...)``
       in your module and publish it under the entry-point group ``meter_kms.plugins``::

           [project.entry-points."meter_kms.plugins"]
           acme = "acme_kms.plugin:plugin"

       Operators then enable it by name (see ``plugins.registry``).
    6. Optionally ship console modules (device panels on the console's device page): put ES modules in a
       folder of your package and name them, ``console_dir=str(Path(__file__).parent / "console")`` and
       ``console_modules=("panel.js",)``. The server serves them at ``/console/ext/<plugin>/<file>`` and the
       console imports them after its built-in plugins (see ``console/static/core/registry.js``).

Streaming contract for format writers: the core calls ``header`` once, ``rows`` once per ``KeyRecord``
and ``footer`` once, and writes every chunk out as it comes, so an export of a million keys stays flat in
memory. Records of one device arrive consecutively, ordered by key slot as declared on the device type;
a writer that emits one entry per device buffers the current device only and flushes it when the serial
number changes or in ``footer``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from crypto.kcv import KeyAlgorithm
from crypto.secret import SecretBytes

__all__ = [
    "DeviceType",
    "ExportContext",
    "ExportOptions",
    "FormatError",
    "FormatWriter",
    "FrameVerifier",
    "InvalidAttributes",
    "KeyAlgorithm",
    "KeyFormat",
    "KeyMap",
    "KeyRecord",
    "KeySlot",
    "Plugin",
    "Radio",
    "SecretBytes",
    "Verification",
    "stream_export",
]


#: A console module is a plain file name ending in .js (no directory, no dot file).
CONSOLE_MODULE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\.js$")


class Radio(StrEnum):
    """How a device talks; decides which plugin and formats apply."""

    LORAWAN = "LORAWAN"
    WMBUS = "WMBUS"
    MBUS = "MBUS"


@dataclass(frozen=True, slots=True)
class KeySlot:
    """A key a device type holds.

    Attributes:
        key_type: Slot name, unique within the device type (``AppKey``, ``OMS``).
        algorithm: Algorithm, and therefore length, of keys in this slot.
        required: False for slots only some devices of the type use (their plugin's
            ``key_slots_for`` decides from the identifiers).
        description: Short human description.
    """

    key_type: str
    algorithm: KeyAlgorithm
    required: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class DeviceType:
    """A product variant the platform can hold keys for.

    Attributes:
        id: Stable id, lowercase with hyphens (``topas-sonic-lora-w8``).
        name: Display name as in the device catalog (``TOPAS Lora W8``).
        product: Product family (``TOPAS SONIC``).
        radio: Radio technology.
        key_slots: Keys each device holds.
        plugin: Name of the plugin that declares it.
        hints: Plugin-specific defaults (a wmbusmeters driver, a default LoRaWAN version).
    """

    id: str
    name: str
    product: str
    radio: Radio
    key_slots: tuple[KeySlot, ...]
    plugin: str
    hints: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def slot(self, key_type: str) -> KeySlot:
        """Return the slot named ``key_type``; raises ``KeyError`` if the type has none."""
        for slot in self.key_slots:
            if slot.key_type == key_type:
                return slot
        raise KeyError(key_type)


class InvalidAttributes(ValueError):
    """An identifier attribute is missing, unknown or malformed (BAD_USER_INPUT at the API)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class FormatError(ValueError):
    """A record cannot be written in a format (wrong radio, missing identifier)."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One key of one device, as handed to a format writer.

    Attributes:
        serial_number: The device's serial number.
        device_type_id: Id of its ``DeviceType``.
        key_type: The key slot.
        algorithm: The key's algorithm.
        key: The plaintext key (redacted in repr).
        attributes: The device's validated identifier attributes.
        check_value: The stored key check value, when known (saves recomputing it).
    """

    serial_number: str
    device_type_id: str
    key_type: str
    algorithm: KeyAlgorithm
    key: SecretBytes
    attributes: Mapping[str, Any] = field(default_factory=dict)
    check_value: str = ""


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """User preferences for CSV-like output.

    Attributes:
        csv_delimiter: Column delimiter for formats that let the user choose one.
        thousands_separator: Grouping for numeric quantities. Built-in formats write identifiers and
            keys only, which are never grouped, so it is unused by them.
        params: Format-specific settings (``frequency_plan_id`` for The Things Stack).
    """

    csv_delimiter: str = ","
    thousands_separator: str = ""
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.csv_delimiter) != 1 or self.csv_delimiter in '"\r\n':
            raise ValueError("CSV delimiter must be one character other than a quote or a line break.")

    def format_int(self, value: int) -> str:
        """Format a quantity with the user's thousands separator."""
        return f"{value:,}".replace(",", self.thousands_separator)


@dataclass(frozen=True, slots=True)
class ExportContext:
    """What a writer knows about the export as a whole.

    Attributes:
        options: The user's export options.
        device_types: Device types by id, for records' ``device_type_id``.
    """

    options: ExportOptions
    device_types: Mapping[str, DeviceType]


class FormatWriter(Protocol):
    """One export in progress; created fresh per export by ``KeyFormat.writer``."""

    def header(self, ctx: ExportContext) -> Iterable[bytes | str]: ...

    def rows(self, record: KeyRecord) -> Iterable[bytes | str]: ...

    def footer(self) -> Iterable[bytes | str]: ...


@dataclass(frozen=True, slots=True)
class KeyFormat:
    """A file format keys can be released in.

    Attributes:
        id: Stable id (``tts-json``).
        name: Display name.
        media_type: MIME type of the file.
        file_extension: Extension without the dot.
        writer: Factory of a fresh ``FormatWriter`` per export.
        radios: Radios whose devices the format can hold.
        required_attributes: Attributes a device needs for the format to hold it (its writer raises
            ``FormatError`` without them); a release refuses such devices before anything is written.
        key_algorithms: The only key algorithms the format can hold, or None for any.
    """

    id: str
    name: str
    media_type: str
    file_extension: str
    writer: Callable[[], FormatWriter]
    radios: frozenset[Radio] = frozenset(Radio)
    required_attributes: frozenset[str] = frozenset()
    key_algorithms: frozenset[KeyAlgorithm] | None = None

    def refuses(self, attributes: Mapping[str, Any], algorithms: Iterable[str]) -> bool:
        """Whether a device with these attributes and key algorithms (their values) cannot be written."""
        if any(not attributes.get(name) for name in self.required_attributes):
            return True
        allowed = self.key_algorithms
        return allowed is not None and any(a not in {k.value for k in allowed} for a in algorithms)


@dataclass(frozen=True, slots=True)
class Verification:
    """Outcome of checking a captured frame against a device's keys.

    Attributes:
        ok: True when the key authenticates or decrypts the frame.
        key_type: The slot that was used, if any.
        method: What was checked (``oms-mode-5``, ``oms-mode-7``, ``lorawan-join-mic``).
        detail: Human explanation, never key material.
    """

    ok: bool
    key_type: str | None
    method: str
    detail: str


AttributeValidator = Callable[[DeviceType, Mapping[str, Any]], dict[str, Any]]
KeyMap = Mapping[str, SecretBytes | bytes]
FrameVerifier = Callable[[DeviceType, Mapping[str, Any], KeyMap, bytes], Verification]
SlotSelector = Callable[[DeviceType, Mapping[str, Any]], tuple[KeySlot, ...]]
IdentifierLister = Callable[[DeviceType, Mapping[str, Any]], tuple[tuple[str, str], ...]]


def _required_slots(device_type: DeviceType, attrs: Mapping[str, Any]) -> tuple[KeySlot, ...]:
    return tuple(slot for slot in device_type.key_slots if slot.required)


def _all_identifiers(device_type: DeviceType, attrs: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(value)) for name, value in sorted(attrs.items()) if value is not None)


def _no_verifier(device_type: DeviceType, attrs: Mapping[str, Any], keys: KeyMap, frame: bytes) -> Verification:
    return Verification(False, None, "unsupported", f"{device_type.name} has no frame verification.")


@dataclass(frozen=True)
class Plugin:
    """Everything one plugin contributes.

    Attributes:
        name: Name used in the allowlist (``oms``).
        device_types: Device types it declares.
        validate: Attribute validator for its device types.
        verify: Frame verifier for its device types.
        formats: Key formats it offers.
        key_slots: Which slots a device of a type needs given its identifiers (default: the required ones).
        identifiers: The non-secret identifiers shown for a device, as (name, text) pairs (default: every
            validated attribute, by name). Never key material: they are shown to every catalog reader.
        console_dir: Directory of the plugin's console modules (usually ``Path(__file__).parent / "console"``).
        console_modules: File names of ES modules in ``console_dir`` the console loads after its built-in
            plugins (``panel.js``). Each exports a console plugin (``console/static/core/registry.js``),
            for example device panels. The server serves only these ``.js`` files of enabled plugins.
    """

    name: str
    device_types: tuple[DeviceType, ...]
    validate: AttributeValidator
    verify: FrameVerifier = _no_verifier
    formats: tuple[KeyFormat, ...] = ()
    key_slots: SlotSelector = _required_slots
    identifiers: IdentifierLister = _all_identifiers
    console_dir: str | None = None
    console_modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for device_type in self.device_types:
            if device_type.plugin != self.name:
                raise ValueError(f"Device type {device_type.id} names plugin {device_type.plugin!r}.")
        for module in self.console_modules:
            if not CONSOLE_MODULE.match(module):
                raise ValueError(f"Console module {module!r} must be a plain .js file name.")
        if self.console_modules and not self.console_dir:
            raise ValueError(f"Plugin {self.name} declares console modules without a console_dir.")


def stream_export(key_format: KeyFormat, records: Iterable[KeyRecord], ctx: ExportContext) -> Iterator[bytes]:
    """Run a format writer over records, yielding UTF-8 encoded chunks.

    Args:
        key_format: The format.
        records: Records, one device's consecutively.
        ctx: The export context.

    Yields:
        Output chunks in order.
    """
    writer = key_format.writer()

    def encode(chunks: Iterable[bytes | str]) -> Iterator[bytes]:
        for chunk in chunks:
            yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk

    yield from encode(writer.header(ctx))
    for record in records:
        device_type = ctx.device_types.get(record.device_type_id)
        if device_type is not None and device_type.radio not in key_format.radios:
            raise FormatError(f"{key_format.name} cannot hold {device_type.name} keys.")
        yield from encode(writer.rows(record))
    yield from encode(writer.footer())
