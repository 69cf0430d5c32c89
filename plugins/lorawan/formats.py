"""Key formats for LoRaWAN network servers: The Things Stack (JSON and CSV) and ChirpStack (CSV).

The Things Stack JSON is its end-device import stream (one ``EndDevice`` object after another, as read by
the console and ``ttn-lw-cli end-devices create``); its CSV import always uses ``;``. ChirpStack keeps the
LoRaWAN 1.0.x AppKey in ``nwk_key`` and uses ``app_key`` for 1.1 only, and so does its CSV here.
Writers emit one entry per device, buffering that device's keys only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from plugins.base import ExportContext, ExportOptions, FormatError, KeyFormat, KeyRecord, Radio
from plugins.csvutil import csv_row, key_hex

LORAWAN = frozenset({Radio.LORAWAN})
DEFAULT_FREQUENCY_PLAN = "EU_863_870_TTN"
# LoRaWAN version -> (TTS MACVersion, TTS PHYVersion, ChirpStack MacVersion).
VERSIONS = {
    "1.0.2": ("MAC_V1_0_2", "PHY_V1_0_2_REV_B", "LORAWAN_1_0_2"),
    "1.0.3": ("MAC_V1_0_3", "PHY_V1_0_3_REV_A", "LORAWAN_1_0_3"),
    "1.0.4": ("MAC_V1_0_4", "RP002_V1_0_3", "LORAWAN_1_0_4"),
    "1.1": ("MAC_V1_1", "PHY_V1_1_REV_B", "LORAWAN_1_1_0"),
}
TTS_CSV_COLUMNS = (
    "id",
    "dev_eui",
    "join_eui",
    "name",
    "frequency_plan_id",
    "lorawan_version",
    "lorawan_phy_version",
    "app_key",
    "nwk_key",
)
CHIRPSTACK_COLUMNS = ("dev_eui", "join_eui", "name", "mac_version", "nwk_key", "app_key")


class Device:
    """The buffered keys and identifiers of one device."""

    def __init__(self, record: KeyRecord) -> None:
        self.serial_number = record.serial_number
        self.attributes: Mapping[str, Any] = record.attributes
        self.keys: dict[str, str] = {}

    @property
    def version(self) -> str:
        """LoRaWAN version, checked against the known ones."""
        version = str(self.attributes.get("lorawanVersion", ""))
        if version not in VERSIONS:
            raise FormatError(f"Device {self.serial_number} has no valid lorawanVersion.")
        return version

    def eui(self, name: str) -> str:
        """A validated EUI attribute."""
        value = self.attributes.get(name)
        if not value:
            raise FormatError(f"Device {self.serial_number} has no {name}.")
        return str(value)

    def key(self, key_type: str) -> str:
        """A key's hex; raises ``FormatError`` if the device has no such key."""
        if key_type not in self.keys:
            raise FormatError(f"Device {self.serial_number} has no {key_type}.")
        return self.keys[key_type]

    def root_keys(self) -> tuple[str, str]:
        """(AppKey, NwkKey); NwkKey is empty for 1.0.x devices."""
        return self.key("AppKey"), self.key("NwkKey") if self.version == "1.1" else ""


class PerDeviceWriter:
    """Base for writers that emit one entry per device; subclasses implement ``emit``."""

    def __init__(self) -> None:
        self.options = ExportOptions()
        self._device: Device | None = None

    def header(self, ctx: ExportContext) -> Iterable[str]:
        """Remember the options; subclasses add a header line."""
        self.options = ctx.options
        return ()

    def rows(self, record: KeyRecord) -> Iterator[str]:
        """Buffer the record; emit the previous device when a new one starts."""
        if self._device is not None and self._device.serial_number != record.serial_number:
            yield from self.emit(self._device)
            self._device = None
        if self._device is None:
            self._device = Device(record)
        self._device.keys[record.key_type] = key_hex(record.key)

    def footer(self) -> Iterator[str]:
        """Emit the last device."""
        if self._device is not None:
            yield from self.emit(self._device)
            self._device = None

    def emit(self, device: Device) -> Iterable[str]:
        """Render one device."""
        raise NotImplementedError


# Serial numbers that lower-case one-to-one into a The Things Stack device id: upper-case letters, digits and
# single inner hyphens. Lower-case letters and ". _ /" would fold distinct serial numbers ("ABC1" and "abc1",
# "21N/001" and "21N.001") onto one id, which an application holds once.
_TTS_ID_AS_IS = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*\Z")


def tts_device_id(serial_number: str, dev_eui: str) -> str:
    """A The Things Stack device id (lowercase letters, digits, single hyphens, 3-36 chars), different for
    every device of a file: the serial number in lower case where that is one-to-one (most serial numbers),
    else ``eui-<DevEUI>``. No serial number kept as it is reads ``eui-``."""
    if _TTS_ID_AS_IS.match(serial_number) and 3 <= len(serial_number) <= 36 and not serial_number.startswith("EUI-"):
        return serial_number.lower()
    return f"eui-{dev_eui.lower()}"


class TtsJsonWriter(PerDeviceWriter):
    """The Things Stack end-device JSON stream, one object per line."""

    def emit(self, device: Device) -> Iterable[str]:
        """One ``EndDevice`` object."""
        mac_version, phy_version, _ = VERSIONS[device.version]
        app_key, nwk_key = device.root_keys()
        root_keys = {"app_key": {"key": app_key}}
        if nwk_key:
            root_keys["nwk_key"] = {"key": nwk_key}
        dev_eui = device.eui("devEui")
        entry = {
            "ids": {
                "device_id": tts_device_id(device.serial_number, dev_eui),
                "dev_eui": dev_eui,
                "join_eui": device.eui("joinEui"),
            },
            "name": device.serial_number,
            "lorawan_version": mac_version,
            "lorawan_phy_version": phy_version,
            "frequency_plan_id": self.options.params.get("frequency_plan_id", DEFAULT_FREQUENCY_PLAN),
            "supports_join": True,
            "root_keys": root_keys,
        }
        yield json.dumps(entry) + "\n"


class TtsCsvWriter(PerDeviceWriter):
    """The Things Stack CSV import: ``;``-delimited whatever the user's preference, as TTS requires."""

    def header(self, ctx: ExportContext) -> Iterable[str]:
        """The column names."""
        super().header(ctx)
        yield csv_row(TTS_CSV_COLUMNS, ";")

    def emit(self, device: Device) -> Iterable[str]:
        """One row."""
        mac_version, phy_version, _ = VERSIONS[device.version]
        app_key, nwk_key = device.root_keys()
        dev_eui = device.eui("devEui")
        frequency_plan = self.options.params.get("frequency_plan_id", DEFAULT_FREQUENCY_PLAN)
        yield csv_row(
            (
                tts_device_id(device.serial_number, dev_eui),
                dev_eui,
                device.eui("joinEui"),
                device.serial_number,
                frequency_plan,
                mac_version,
                phy_version,
                app_key,
                nwk_key,
            ),
            ";",
        )


class ChirpStackCsvWriter(PerDeviceWriter):
    """ChirpStack device keys as CSV in the user's delimiter, with ChirpStack's field names."""

    def header(self, ctx: ExportContext) -> Iterable[str]:
        """The column names."""
        super().header(ctx)
        yield csv_row(CHIRPSTACK_COLUMNS, self.options.csv_delimiter)

    def emit(self, device: Device) -> Iterable[str]:
        """One row; for 1.0.x the AppKey goes in ``nwk_key`` and ``app_key`` stays empty."""
        app_key, nwk_key = device.root_keys()
        keys = (nwk_key, app_key) if nwk_key else (app_key, "")
        yield csv_row(
            (
                device.eui("devEui").lower(),
                device.eui("joinEui").lower(),
                device.serial_number,
                VERSIONS[device.version][2],
                *(k.lower() for k in keys),
            ),
            self.options.csv_delimiter,
        )


TTS_JSON = KeyFormat(
    id="tts-json",
    name="The Things Stack (JSON)",
    media_type="application/json",
    file_extension="json",
    writer=TtsJsonWriter,
    radios=LORAWAN,
)
TTS_CSV = KeyFormat(
    id="tts-csv",
    name="The Things Stack (CSV)",
    media_type="text/csv",
    file_extension="csv",
    writer=TtsCsvWriter,
    radios=LORAWAN,
)
CHIRPSTACK_CSV = KeyFormat(
    id="chirpstack-csv",
    name="ChirpStack (CSV)",
    media_type="text/csv",
    file_extension="csv",
    writer=ChirpStackCsvWriter,
    radios=LORAWAN,
)
FORMATS = (TTS_JSON, TTS_CSV, CHIRPSTACK_CSV)
