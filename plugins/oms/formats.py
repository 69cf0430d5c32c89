"""Key formats for OMS meters: wmbusmeters meter files (zip and lines) and the OMS key list.

wmbusmeters reads one file per meter from ``/etc/wmbusmeters.d/`` with ``name=``, ``driver=``, ``id=``
and ``key=`` lines; its command line takes the same four values as ``name driver id key``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping

from plugins.base import (
    DeviceType,
    ExportContext,
    FormatError,
    KeyAlgorithm,
    KeyFormat,
    KeyRecord,
    Radio,
)
from plugins.csvutil import key_hex, safe_name

OMS_RADIOS = frozenset({Radio.WMBUS, Radio.MBUS})


def _meter_values(record: KeyRecord, device_types: Mapping[str, DeviceType]) -> tuple[str, str, str, str]:
    if record.algorithm is not KeyAlgorithm.AES128:
        raise FormatError(f"wmbusmeters takes AES-128 keys only; {record.serial_number} has {record.algorithm}.")
    mbus_id = record.attributes.get("mbusId")
    if not mbus_id:
        raise FormatError(f"Device {record.serial_number} has no mbusId.")
    device_type = device_types.get(record.device_type_id)
    driver = device_type.hints.get("wmbusmeters_driver", "auto") if device_type else "auto"
    return safe_name(record.serial_number, str(mbus_id)), driver, str(mbus_id), key_hex(record.key)


class _Pipe(io.RawIOBase):
    """A write-only stream that keeps what was written until it is taken: a zip written into it comes out
    piece by piece (zipfile writes to a stream that cannot seek with data descriptors)."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        """Everything written since the last take."""
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class WmbusmetersZipWriter:
    """A zip with one wmbusmeters meter file per device, streamed as it is written: flat in memory, and the
    keys never pass through a temporary file on the disk."""

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._device_types: Mapping[str, DeviceType] = {}

    def header(self, ctx: ExportContext) -> Iterable[bytes]:
        """Open the zip; each meter file's bytes come out with its row, the directory in ``footer``."""
        self._device_types = ctx.device_types
        self._pipe = _Pipe()
        self._zip = zipfile.ZipFile(self._pipe, "w", compression=zipfile.ZIP_DEFLATED)
        return ()

    def rows(self, record: KeyRecord) -> Iterable[bytes]:
        """Add the record's meter file to the zip and give out its bytes."""
        name, driver, mbus_id, key = _meter_values(record, self._device_types)
        entry, n = name, 1
        while entry in self._names:  # Two devices with one serial would otherwise overwrite each other.
            n += 1
            entry = f"{name}_{n}"
        self._names.add(entry)
        self._zip.writestr(entry, f"name={name}\ndriver={driver}\nid={mbus_id}\nkey={key}\n")
        return (self._pipe.take(),)

    def footer(self) -> Iterator[bytes]:
        """Finish the zip: its central directory."""
        self._zip.close()
        yield self._pipe.take()


class WmbusmetersLinesWriter:
    """One ``name driver id key`` line per device, as wmbusmeters takes meters on its command line."""

    def __init__(self) -> None:
        self._device_types: Mapping[str, DeviceType] = {}

    def header(self, ctx: ExportContext) -> Iterable[str]:
        """Nothing: the file is lines only."""
        self._device_types = ctx.device_types
        return ()

    def rows(self, record: KeyRecord) -> Iterable[str]:
        """The record's line."""
        yield " ".join(_meter_values(record, self._device_types)) + "\n"

    def footer(self) -> Iterable[str]:
        """Nothing."""
        return ()


class OmsKeyListWriter:
    """``MFR;SERIAL;KEY`` lines: manufacturer code, 8-digit M-Bus id, key hex."""

    def header(self, ctx: ExportContext) -> Iterable[str]:
        """The fixed header line (the format's delimiter is always ``;``)."""
        yield "MFR;SERIAL;KEY\r\n"

    def rows(self, record: KeyRecord) -> Iterable[str]:
        """The record's line; both identifiers are validated, so they never hold ``;``."""
        manufacturer, mbus_id = record.attributes.get("manufacturer"), record.attributes.get("mbusId")
        if not manufacturer or not mbus_id:
            raise FormatError(f"Device {record.serial_number} needs manufacturer and mbusId for an OMS key list.")
        yield f"{manufacturer};{mbus_id};{key_hex(record.key)}\r\n"

    def footer(self) -> Iterable[str]:
        """Nothing."""
        return ()


WMBUSMETERS_ZIP = KeyFormat(
    id="wmbusmeters-zip",
    name="wmbusmeters meter files (zip)",
    media_type="application/zip",
    file_extension="zip",
    writer=WmbusmetersZipWriter,
    radios=OMS_RADIOS,
    required_attributes=frozenset({"mbusId"}),
    key_algorithms=frozenset({KeyAlgorithm.AES128}),
)
WMBUSMETERS_LINES = KeyFormat(
    id="wmbusmeters-lines",
    name="wmbusmeters meters (name driver id key)",
    media_type="text/plain",
    file_extension="txt",
    writer=WmbusmetersLinesWriter,
    radios=OMS_RADIOS,
    required_attributes=frozenset({"mbusId"}),
    key_algorithms=frozenset({KeyAlgorithm.AES128}),
)
OMS_KEY_LIST = KeyFormat(
    id="oms-key-list",
    name="OMS key list (MFR;SERIAL;KEY)",
    media_type="text/csv",
    file_extension="csv",
    writer=OmsKeyListWriter,
    radios=OMS_RADIOS,
    required_attributes=frozenset({"manufacturer", "mbusId"}),
)
FORMATS = (WMBUSMETERS_ZIP, WMBUSMETERS_LINES, OMS_KEY_LIST)
