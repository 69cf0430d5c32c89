"""Importing devices with their keys: validated by the device types' plugins, all or nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from crypto.envelope import SealedKey, rewrap, seal
from crypto.kcv import KeyAlgorithm, generate_key, key_check_value
from crypto.kek import Kek
from crypto.secret import SecretBytes
from models import db
from models.devices import Device
from models.keys import DeviceKey
from plugins.base import InvalidAttributes
from plugins.registry import PluginRegistry, UnknownDeviceType
from resolvers import _scope, audit
from resolvers.actor import Actor
from resolvers.devices.common import (
    _ANALYZE_AFTER,
    _CHUNK,
    _HEX,
    _SERIAL,
    DEVICE_COLUMNS,
    KEY_COLUMNS,
    MAX_IMPORT_ROWS,
    MAX_REPORTED_ROWS,
    DeviceRow,
)
from resolvers.errors import BadInput, KmsError
from resolvers.keystore import KeyStore, storing_kek

# Characters of one row's attributes: a handful of identifiers (DevEUI, M-Bus id, ...) fit many times over.
ATTRIBUTES_MAX = 4096


@dataclass(frozen=True)
class ImportRow:
    serial_number: str
    device_type: str
    keys: Sequence[tuple[str, str]] = ()
    attributes: str | None = None


@dataclass
class _Prepared:
    serial_number: str
    device_type: str
    attributes: dict[str, Any]
    keys: list[tuple[str, KeyAlgorithm, SecretBytes, bool]] = field(default_factory=list)  # slot, alg, key, generated


class _RowError(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def _prepare(row: ImportRow, registry: PluginRegistry) -> _Prepared:
    serial = row.serial_number.strip()
    if not _SERIAL.match(serial):
        raise _RowError("BAD_USER_INPUT", "A serial number has 1-64 letters, digits or . _ / -.", "serialNumber")
    try:
        registry.device_type(row.device_type)
    except UnknownDeviceType:
        raise _RowError("BAD_USER_INPUT", f"Unknown device type {row.device_type!r}.", "deviceType") from None
    if row.attributes and len(row.attributes) > ATTRIBUTES_MAX:
        raise _RowError("BAD_USER_INPUT", f"attributes may have at most {ATTRIBUTES_MAX} characters.", "attributes")
    try:
        raw = json.loads(row.attributes) if row.attributes else {}
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise _RowError("BAD_USER_INPUT", "attributes must be a JSON object.", "attributes") from None
    if not isinstance(raw, dict):
        raise _RowError("BAD_USER_INPUT", "attributes must be a JSON object.", "attributes")
    try:
        attributes = registry.validate_attributes(row.device_type, raw)
    except InvalidAttributes as exc:
        raise _RowError("BAD_USER_INPUT", exc.message, f"attributes.{exc.field}") from None
    slots = {s.key_type: s for s in registry.key_slots_for(row.device_type, attributes)}
    given: dict[str, str] = {}
    for key_type, value in row.keys:
        if key_type not in slots:
            raise _RowError("BAD_USER_INPUT", f"{row.device_type} has no key slot {key_type!r}.", "keys.keyType")
        if key_type in given:
            raise _RowError("BAD_USER_INPUT", f"Key slot {key_type} is given twice.", "keys.keyType")
        given[key_type] = value
    prepared = _Prepared(serial, row.device_type, attributes)
    for key_type, slot in slots.items():
        algorithm = KeyAlgorithm(slot.algorithm)
        if key_type in given:
            text = given[key_type].strip().replace(" ", "")
            if not _HEX.match(text) or len(text) != 2 * algorithm.key_length:
                # The message names the slot and the expected length, never the value.
                raise _RowError(
                    "BAD_USER_INPUT", f"{key_type} must be {algorithm.key_length} bytes in hex.", "keys.value"
                )
            prepared.keys.append((key_type, algorithm, SecretBytes(bytes.fromhex(text)), False))
        else:
            prepared.keys.append((key_type, algorithm, generate_key(algorithm), True))
    return prepared


async def _existing_serials(serials: list[str]) -> set[str]:
    if db.dialect() == "postgres":  # one statement with an array parameter
        rows = await db.pg_fetch("SELECT serial_number FROM devices WHERE serial_number = ANY($1::text[])", serials)
        return {str(row[0]) for row in rows}
    found: set[str] = set()
    for start in range(0, len(serials), _CHUNK):
        chunk = serials[start : start + _CHUNK]
        rows = await Device.filter(serial_number__in=chunk).values_list("serial_number", flat=True)
        found.update(str(serial) for serial in rows)
    return found


def _refuse(problems: list[dict[str, Any]], total: int) -> KmsError:
    codes = {p["code"] for p in problems}
    code = codes.pop() if len(codes) == 1 else "BAD_USER_INPUT"
    return KmsError(
        f"{len(problems)} of {total} rows were refused; nothing was imported.",
        code=code,
        rows=problems[:MAX_REPORTED_ROWS],
        refusedCount=len(problems),
    )


def _seal_all(prepared: list[_Prepared], ids: list[uuid.UUID], kek: Kek, now: datetime) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for device_id, item in zip(ids, prepared, strict=True):
        for key_type, algorithm, key, _ in item.keys:
            sealed = seal(key, device_id=str(device_id), key_type=key_type, kek=kek)
            rows.append(
                (
                    uuid.uuid4(),
                    now,
                    device_id,
                    key_type,
                    algorithm.value,
                    sealed.ciphertext,
                    sealed.nonce,
                    sealed.wrapped_dek,
                    sealed.kek_id,
                    sealed.kek_version,
                    key_check_value(key, algorithm),
                )
            )
    return rows


_SEALED = slice(5, 10)  # ciphertext, nonce, wrapped_dek, kek_id, kek_version in a row of _seal_all


def _rewrap_all(rows: list[tuple[Any, ...]], store: KeyStore, kek: Kek) -> list[tuple[Any, ...]]:
    """The rows of _seal_all with their data keys wrapped under `kek` instead (a rotation added it since)."""
    ring = store.resolver()
    out = []
    for row in rows:
        fresh = rewrap(SealedKey(*row[_SEALED]), ring, kek)
        sealed = (fresh.ciphertext, fresh.nonce, fresh.wrapped_dek, fresh.kek_id, fresh.kek_version)
        out.append(row[: _SEALED.start] + sealed + row[_SEALED.stop :])
    return out


async def import_devices(
    actor: Actor, organisation_id: str, rows: Sequence[ImportRow], *, keys: KeyStore, registry: PluginRegistry
) -> list[DeviceRow]:
    """Import devices with their keys, all or nothing; missing key slots are generated (CSPRNG)."""
    if not rows:
        raise BadInput("rows", "Give at least one row.")
    if len(rows) > MAX_IMPORT_ROWS:
        raise BadInput("rows", f"At most {MAX_IMPORT_ROWS} rows can be imported in one call.")
    org = await _scope.organisation(actor, organisation_id)
    problems: list[dict[str, Any]] = []
    prepared: list[_Prepared] = []
    first_row: dict[str, int] = {}
    for index, row in enumerate(rows):
        try:
            item = _prepare(row, registry)
        except _RowError as exc:
            problems.append(
                {
                    "row": index,
                    "serialNumber": row.serial_number,
                    "code": exc.code,
                    "field": exc.field,
                    "message": exc.message,
                }
            )
            continue
        if item.serial_number in first_row:
            problems.append(
                {
                    "row": index,
                    "serialNumber": item.serial_number,
                    "code": "SERIAL_DUPLICATE",
                    "field": "serialNumber",
                    "message": f"Also in row {first_row[item.serial_number]}.",
                }
            )
            continue
        first_row[item.serial_number] = index
        prepared.append(item)
    for serial in sorted(await _existing_serials(list(first_row))):
        problems.append(
            {
                "row": first_row[serial],
                "serialNumber": serial,
                "code": "SERIAL_DUPLICATE",
                "field": "serialNumber",
                "message": "This serial number exists already.",
            }
        )
    if problems:
        raise _refuse(sorted(problems, key=lambda p: p["row"]), len(rows))

    ids = [uuid.uuid4() for _ in prepared]
    now = datetime.now(UTC)
    kek = keys.current()
    # Sealing 100,000 keys takes seconds of CPU: keep it off the event loop.
    sealed = await asyncio.to_thread(_seal_all, prepared, ids, kek, now)
    device_rows = [
        (
            device_id,
            now,
            item.serial_number,
            item.device_type,
            org.id,
            org.path,
            "UNCLAIMED",
            json.dumps(item.attributes, sort_keys=True),
        )
        for device_id, item in zip(ids, prepared, strict=True)
    ]
    try:
        async with in_transaction():
            await db.copy_rows(Device._meta.db_table, DEVICE_COLUMNS, device_rows)
            newest = await storing_kek(keys, kek)
            if newest is not kek:  # a KEK rotation ran while the keys were sealed
                sealed = await asyncio.to_thread(_rewrap_all, sealed, keys, newest)
            await db.copy_rows(DeviceKey._meta.db_table, KEY_COLUMNS, sealed)
            await audit.record(
                "devices.imported",
                actor,
                organisation_id=org.id,
                organisation_path=org.path,
                target=f"organisation:{org.id}",
                details={
                    "count": len(device_rows),
                    "deviceTypes": dict(Counter(item.device_type for item in prepared)),
                    "generatedKeys": sum(1 for item in prepared for k in item.keys if k[3]),
                },
            )
    except IntegrityError:  # a concurrent import took a serial number between the check and the insert
        raise KmsError(
            "A serial number was imported concurrently; nothing was imported.", code="SERIAL_DUPLICATE"
        ) from None
    if len(device_rows) >= _ANALYZE_AFTER:
        await db.analyze(Device._meta.db_table, DeviceKey._meta.db_table)
    return [
        DeviceRow(device_id, item.serial_number, item.device_type, org.id, "UNCLAIMED", None, now)
        for device_id, item in zip(ids, prepared, strict=True)
    ]
