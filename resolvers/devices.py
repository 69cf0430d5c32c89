"""Devices: import with keys, the catalog, claiming."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from crypto.envelope import seal
from crypto.kcv import KeyAlgorithm, generate_key, key_check_value
from crypto.kek import Kek
from crypto.secret import SecretBytes
from models import db
from models.devices import Device, DeviceLabel
from models.keys import DeviceKey
from plugins.base import InvalidAttributes
from plugins.registry import PluginRegistry, UnknownDeviceType
from resolvers import _scope, audit
from resolvers.actor import Actor
from resolvers.errors import BadInput, KmsError
from resolvers.pagination import Page, paginate

MAX_IMPORT_ROWS = 100_000
MAX_REPORTED_ROWS = 1_000
_CHUNK = 1_000
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
_HEX = re.compile(r"^[0-9a-fA-F]*$")


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


@dataclass(frozen=True)
class DeviceFilter:
    serial_numbers: Sequence[str] | None = None
    search: str | None = None
    device_types: Sequence[str] | None = None
    claim_status: str | None = None
    labels: Sequence[str] | None = None
    batch_references: Sequence[str] | None = None
    organisation_ids: Sequence[str] | None = None


def _prepare(row: ImportRow, registry: PluginRegistry) -> _Prepared:
    serial = row.serial_number.strip()
    if not _SERIAL.match(serial):
        raise _RowError("BAD_USER_INPUT", "A serial number has 1-64 letters, digits or . _ / -.", "serialNumber")
    try:
        registry.device_type(row.device_type)
    except UnknownDeviceType:
        raise _RowError("BAD_USER_INPUT", f"Unknown device type {row.device_type!r}.", "deviceType") from None
    try:
        raw = json.loads(row.attributes) if row.attributes else {}
    except ValueError:
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


def _seal_all(prepared: list[_Prepared], ids: list[uuid.UUID], kek: Kek) -> list[DeviceKey]:
    keys = []
    for device_id, item in zip(ids, prepared, strict=True):
        for key_type, algorithm, key, _ in item.keys:
            sealed = seal(key, device_id=str(device_id), key_type=key_type, kek=kek)
            keys.append(
                DeviceKey(
                    id=uuid.uuid4(),
                    device_id=device_id,
                    key_type=key_type,
                    algorithm=algorithm.value,
                    ciphertext=sealed.ciphertext,
                    nonce=sealed.nonce,
                    wrapped_dek=sealed.wrapped_dek,
                    kek_id=sealed.kek_id,
                    kek_version=sealed.kek_version,
                    check_value=key_check_value(key, algorithm),
                )
            )
    return keys


async def import_devices(
    actor: Actor, organisation_id: str, rows: Sequence[ImportRow], *, kek: Kek, registry: PluginRegistry
) -> list[Device]:
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
    # Sealing 100,000 keys takes seconds of CPU: keep it off the event loop.
    keys = await asyncio.to_thread(_seal_all, prepared, ids, kek)
    devices = [
        Device(
            id=device_id,
            serial_number=item.serial_number,
            device_type=item.device_type,
            owner_id=org.id,
            owner_path=org.path,
            attributes=json.dumps(item.attributes, sort_keys=True),
        )
        for device_id, item in zip(ids, prepared, strict=True)
    ]
    try:
        async with in_transaction():
            await Device.bulk_create(devices, batch_size=_CHUNK)
            await DeviceKey.bulk_create(keys, batch_size=_CHUNK)
            await audit.record(
                "devices.imported",
                actor,
                organisation_id=org.id,
                organisation_path=org.path,
                target=f"organisation:{org.id}",
                details={
                    "count": len(devices),
                    "deviceTypes": dict(Counter(d.device_type for d in devices)),
                    "generatedKeys": sum(1 for item in prepared for k in item.keys if k[3]),
                },
            )
    except IntegrityError:  # a concurrent import took a serial number between the check and the insert
        raise KmsError(
            "A serial number was imported concurrently; nothing was imported.", code="SERIAL_DUPLICATE"
        ) from None
    return devices


def filtered(actor: Actor, flt: DeviceFilter) -> QuerySet[Device]:
    """The caller's devices under a filter (scoping by _scope, then the filter's conditions)."""
    query = _scope.devices(actor)
    if flt.serial_numbers:
        query = query.filter(serial_number__in=list(flt.serial_numbers))
    if flt.search:
        query = query.filter(serial_number__istartswith=flt.search.strip())
    if flt.device_types:
        query = query.filter(device_type__in=list(flt.device_types))
    if flt.claim_status:
        query = query.filter(claim_status=flt.claim_status)
    if flt.organisation_ids:
        query = query.filter(owner_id__in=[_uuid(i, "organisationIds") for i in flt.organisation_ids])
    if flt.labels:
        query = query.filter(id__in=DeviceLabel.filter(label__in=list(flt.labels)).values("device_id"))
    if flt.batch_references:
        query = query.filter(batch__reference__in=list(flt.batch_references))
    return query


def _uuid(value: str, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise BadInput(field, "Not a valid ID.") from None


async def list_devices(actor: Actor, flt: DeviceFilter, *, first: int | None, after: str | None) -> Page[Device]:
    return await paginate(filtered(actor, flt), ("serial_number",), first=first, after=after)


async def get_device(actor: Actor, device_id: str) -> Device:
    return await _scope.device(actor, device_id)


async def keys_of(device_ids: list[UUID]) -> dict[UUID, list[DeviceKey]]:
    """Key metadata of several devices in one query (never the key bytes)."""
    result: dict[UUID, list[DeviceKey]] = {i: [] for i in device_ids}
    rows = (
        await DeviceKey.filter(device_id__in=device_ids)
        .only("id", "device_id", "key_type", "algorithm", "check_value", "created_at")
        .order_by("key_type")
    )
    for row in rows:
        result[row.device_id].append(row)  # type: ignore[attr-defined]
    return result


async def labels_of(device_ids: list[UUID]) -> dict[UUID, list[str]]:
    result: dict[UUID, list[str]] = {i: [] for i in device_ids}
    for device_id, label in (
        await DeviceLabel.filter(device_id__in=device_ids).order_by("label").values_list("device_id", "label")
    ):
        result[device_id].append(label)
    return result


@dataclass(frozen=True)
class Refused:
    serial_number: str
    reason: str


@dataclass(frozen=True)
class ClaimResult:
    claimed: list[Device]
    refused: list[Refused]


async def _owned(actor: Actor, ids: list[UUID]) -> tuple[dict[UUID, Device], list[Refused], list[UUID]]:
    """Split device ids into the caller's organisation's devices, refusals, and ids unknown to it."""
    visible = {d.id: d for d in await _scope.devices(actor).filter(id__in=ids)}
    refused = [
        Refused(d.serial_number, "DEVICE_NOT_OWNED")
        for d in visible.values()
        if d.owner_id != actor.organisation_id  # type: ignore[attr-defined]
    ]
    owned = {i: d for i, d in visible.items() if d.owner_id == actor.organisation_id}  # type: ignore[attr-defined]
    unknown = [i for i in ids if i not in visible]
    return owned, refused, unknown


async def claim_devices(actor: Actor, device_ids: Sequence[str]) -> ClaimResult:
    """Mark the caller's organisation's devices CLAIMED. One guarded UPDATE per chunk claims each device
    once, however many claims race."""
    ids = list(dict.fromkeys(_uuid(i, "deviceIds") for i in device_ids))
    claimed: list[Device] = []
    refused: list[Refused] = []
    now = datetime.now(UTC)
    placeholder = "$" if db.dialect() == "postgres" else "?"
    async with in_transaction():
        for start in range(0, len(ids), _CHUNK):
            owned, not_owned, unknown = await _owned(actor, ids[start : start + _CHUNK])
            refused += not_owned + [Refused(str(i), "DEVICE_NOT_FOUND") for i in unknown]
            if not owned:
                continue
            won = await _claim_chunk(list(owned), now, placeholder)
            for device_id, device in owned.items():
                if device_id in won:
                    device.claim_status, device.claimed_at = "CLAIMED", now
                    claimed.append(device)
                else:
                    refused.append(Refused(device.serial_number, "CONFLICT"))  # claimed already
        if claimed:
            await audit.record(
                "devices.claimed",
                actor,
                target=f"organisation:{actor.organisation_id}",
                details={"count": len(claimed), "serialNumbers": [d.serial_number for d in claimed[:1000]]},
            )
    return ClaimResult(claimed, refused)


async def _claim_chunk(ids: list[UUID], now: datetime, mark: str) -> set[UUID]:
    """Claim the still-UNCLAIMED devices of ``ids``; returns those this statement claimed."""
    if mark == "$":
        marks = ", ".join(f"${n}" for n in range(1, len(ids) + 1))
        values: list[Any] = list(ids)
    else:
        marks = ", ".join("?" for _ in ids)
        values = [str(i) for i in ids]
    sql = (
        f"UPDATE devices SET claim_status = 'CLAIMED' WHERE claim_status = 'UNCLAIMED' AND id IN ({marks}) RETURNING id"  # noqa: S608
    )
    rows = await connections.get("default").execute_query_dict(sql, values)
    won = {UUID(str(r["id"])) for r in rows}
    if won:
        await Device.filter(id__in=list(won)).update(claimed_at=now)
    return won
