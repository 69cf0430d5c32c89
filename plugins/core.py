"""The always-enabled core plugin: the generic CSV key format, usable for every device type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crypto.kcv import key_check_value
from plugins.base import DeviceType, ExportContext, InvalidAttributes, KeyFormat, KeyRecord, Plugin
from plugins.csvutil import csv_row, key_hex

GENERIC_CSV_COLUMNS = ("serial_number", "device_type", "key_type", "algorithm", "key", "kcv")


class GenericCsvWriter:
    """One row per key: serial, device type name, slot, algorithm, key hex and key check value."""

    def __init__(self) -> None:
        self._delimiter = ","
        self._names: Mapping[str, DeviceType] = {}

    def header(self, ctx: ExportContext) -> Iterable[str]:
        """Column names, in the user's CSV delimiter."""
        self._delimiter = ctx.options.csv_delimiter
        self._names = ctx.device_types
        yield csv_row(GENERIC_CSV_COLUMNS, self._delimiter)

    def rows(self, record: KeyRecord) -> Iterable[str]:
        """One row for the record."""
        device_type = self._names.get(record.device_type_id)
        yield csv_row(
            (
                record.serial_number,
                device_type.name if device_type else record.device_type_id,
                record.key_type,
                record.algorithm.value,
                key_hex(record.key),
                record.check_value or key_check_value(record.key, record.algorithm),
            ),
            self._delimiter,
        )

    def footer(self) -> Iterable[str]:
        """Nothing: CSV has no trailer."""
        return ()


GENERIC_CSV = KeyFormat(
    id="csv",
    name="Generic CSV",
    media_type="text/csv",
    file_extension="csv",
    writer=GenericCsvWriter,
)


def _no_device_types(device_type: DeviceType, attrs: Mapping[str, Any]) -> dict[str, Any]:
    raise InvalidAttributes("deviceType", "the core plugin declares no device types")


plugin = Plugin(name="core", device_types=(), validate=_no_device_types, formats=(GENERIC_CSV,))
