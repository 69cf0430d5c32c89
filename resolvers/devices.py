"""Devices: import with keys, the catalog, claiming."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.filters import escape_like
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from crypto.envelope import seal
from crypto.kcv import KeyAlgorithm, generate_key, key_check_value
from crypto.kek import Kek
from crypto.secret import SecretBytes
from models import db
from models.devices import BatchReference, Device, DeviceCount, DeviceLabel
from models.keys import DeviceKey
from plugins.base import InvalidAttributes
from plugins.registry import PluginRegistry, UnknownDeviceType
from resolvers import _scope, audit
from resolvers.actor import Actor
from resolvers.errors import BadInput, KmsError
from resolvers.pagination import Page, decode_cursor, encode_cursor, page_size, paginate

MAX_IMPORT_ROWS = 100_000
MAX_FILTER_SERIALS = 10_000  # one SQL parameter each; SQLite binds at most 32,766
MAX_REPORTED_ROWS = 1_000
_CHUNK = 1_000
# After a bulk change this large, fresh planner statistics keep the next statements on their indexes.
_ANALYZE_AFTER = 10_000
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
_HEX = re.compile(r"^[0-9a-fA-F]*$")
LABEL = re.compile(r"^[^\r\n\t]{1,100}$")
MAX_LABELS = 20


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


DEVICE_COLUMNS = (
    "id",
    "created_at",
    "serial_number",
    "device_type",
    "owner_id",
    "owner_path",
    "claim_status",
    "attributes",
)
KEY_COLUMNS = (
    "id",
    "created_at",
    "device_id",
    "key_type",
    "algorithm",
    "ciphertext",
    "nonce",
    "wrapped_dek",
    "kek_id",
    "kek_version",
    "check_value",
)


@dataclass(frozen=True)
class DeviceRow:
    """A device as the API shows it, without an ORM object (bulk results build a hundred thousand)."""

    id: UUID
    serial_number: str
    device_type: str
    owner_id: UUID
    claim_status: str
    claimed_at: datetime | None
    created_at: datetime
    batch_id: UUID | None = None


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


async def import_devices(
    actor: Actor, organisation_id: str, rows: Sequence[ImportRow], *, kek: Kek, registry: PluginRegistry
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
    # Sealing 100,000 keys takes seconds of CPU: keep it off the event loop.
    keys = await asyncio.to_thread(_seal_all, prepared, ids, kek, now)
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
            await db.copy_rows(DeviceKey._meta.db_table, KEY_COLUMNS, keys)
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


def filtered(actor: Actor, flt: DeviceFilter) -> QuerySet[Device]:
    """The caller's devices under a filter (scoping by _scope, then the filter's conditions)."""
    query = _scope.devices(actor)
    if flt.serial_numbers:
        if len(flt.serial_numbers) > MAX_FILTER_SERIALS:
            raise BadInput("serialNumbers", f"Filter by at most {MAX_FILTER_SERIALS} serial numbers at once.")
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
        query = query.filter(id__in=Subquery(DeviceLabel.filter(label__in=list(flt.labels)).values("device_id")))
    if flt.batch_references:
        query = query.filter(batch__reference__in=list(flt.batch_references))
    return query


def _uuid(value: str, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise BadInput(field, "Not a valid ID.") from None


# A hand-written PostgreSQL statement's runner: db.pg_fetch, or the fetch of a connection held for a page.
Fetch = Callable[..., Awaitable[list[Any]]]


async def list_devices(
    actor: Actor,
    flt: DeviceFilter,
    *,
    first: int | None,
    after: str | None,
    fetch: Fetch | None = None,
    count_fetch: Fetch | None = None,
) -> Page[Device] | Page[DeviceRow]:
    """A page of the caller's devices under a filter, by serial number after a cursor. On PostgreSQL the page
    is one hand-written statement read straight into rows (building it through the ORM cost more CPU than
    the rest of the request's SQL); SQLite keeps the ORM's query."""
    if db.dialect() == "postgres":
        return await _page_sql(
            actor, flt, first=first, after=after, fetch=fetch or db.pg_fetch, count_fetch=count_fetch
        )
    page = await paginate(filtered(actor, flt), ("serial_number",), first=first, after=after)
    if _countable(flt):
        page.counter = lambda: count_from_totals(actor, flt)
    return page


@dataclass
class CatalogPage:
    """A page of devices with what the caller asked for beside them: the labels of its devices, the batch
    references it may see (by id) and the total count."""

    page: Page[Device] | Page[DeviceRow]
    labels: dict[UUID, list[str]] | None = None
    batches: dict[UUID, BatchReference] | None = None


async def catalog_page(
    actor: Actor,
    flt: DeviceFilter,
    *,
    first: int | None,
    after: str | None,
    labels: bool = False,
    batches: bool = False,
    total: bool = False,
) -> CatalogPage:
    """list_devices with the page's labels, batch references and total as asked. On PostgreSQL its statements
    run on one pooled connection: each acquisition costs the server a reset round trip when released."""
    if db.dialect() != "postgres":
        return await _catalog_page(actor, flt, first, after, labels, batches, None)
    async with connections.get("default").acquire_connection() as connection:
        # Without total, a count asked for later runs after the connection went back to the pool.
        count_fetch = None if total else db.pg_fetch
        found = await _catalog_page(actor, flt, first, after, labels, batches, connection.fetch, count_fetch)
        if total:
            count = await found.page.total_count()
            found.page.counter = functools.partial(_known, count)
    return found


async def _known(count: int) -> int:
    return count


async def _catalog_page(
    actor: Actor,
    flt: DeviceFilter,
    first: int | None,
    after: str | None,
    labels: bool,
    batches: bool,
    fetch: Fetch | None,
    count_fetch: Fetch | None = None,
) -> CatalogPage:
    from resolvers.batches import visible_batches  # resolvers.batches imports this module

    page = await list_devices(actor, flt, first=first, after=after, fetch=fetch, count_fetch=count_fetch)
    found = CatalogPage(page)
    ids = [d.id for d in page.nodes]
    if labels:
        found.labels = await labels_of(ids, fetch=fetch)
    if batches:
        batch_ids = list(dict.fromkeys(b for d in page.nodes if (b := d.batch_id) is not None))  # type: ignore[union-attr]
        visible = await visible_batches(actor, batch_ids, fetch=fetch)
        found.batches = {b.id: b for b in visible if b is not None}
    return found


_ROW_COLUMNS = "id, serial_number, device_type, owner_id, claim_status, claimed_at, created_at, batch_id"
# The columns of a batch reference row, in the order hand-written statements select them.
BATCH_COLUMNS = (
    "id",
    "created_at",
    "reference",
    "label",
    "organisation_id",
    "sender_id",
    "requires_confirmation",
    "state",
    "device_count",
    "accepted_at",
)


class _Conditions:
    """SQL conditions joined by AND, with their PostgreSQL parameters numbered as they are added."""

    def __init__(self, condition: str, values: list[Any]) -> None:
        self.conditions = [condition]
        self.values: list[Any] = list(values)

    def add(self, template: str, value: Any) -> None:
        """``template`` holds ``{}`` where the new parameter goes."""
        self.values.append(value)
        self.conditions.append(template.format(f"${len(self.values)}"))

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions)


def _filtered_sql(actor: Actor, flt: DeviceFilter) -> _Conditions:
    """filtered() as SQL conditions on the devices table (PostgreSQL): the scope from _scope, then the
    filter's conditions, one array parameter per list."""
    where = _Conditions(*_scope.devices_sql(actor, 1))
    if flt.serial_numbers:
        if len(flt.serial_numbers) > MAX_FILTER_SERIALS:
            raise BadInput("serialNumbers", f"Filter by at most {MAX_FILTER_SERIALS} serial numbers at once.")
        where.add("serial_number = ANY({}::text[])", list(flt.serial_numbers))
    if flt.search:  # as the ORM's istartswith: case-insensitive prefix, LIKE wildcards escaped
        where.add("UPPER(serial_number) LIKE UPPER({}) ESCAPE '\\'", escape_like(flt.search.strip()) + "%")
    if flt.device_types:
        where.add("device_type = ANY({}::text[])", list(flt.device_types))
    if flt.claim_status:
        where.add("claim_status = {}", flt.claim_status)
    if flt.organisation_ids:
        where.add("owner_id = ANY({}::uuid[])", [_uuid(i, "organisationIds") for i in flt.organisation_ids])
    if flt.labels:
        where.add("id IN (SELECT device_id FROM device_labels WHERE label = ANY({}::text[]))", list(flt.labels))
    if flt.batch_references:
        where.add(
            "batch_id IN (SELECT id FROM batch_references WHERE reference = ANY({}::text[]))",
            list(flt.batch_references),
        )
    return where


async def _page_sql(
    actor: Actor,
    flt: DeviceFilter,
    *,
    first: int | None,
    after: str | None,
    fetch: Fetch,
    count_fetch: Fetch | None = None,
) -> Page[DeviceRow]:
    """PostgreSQL: the page in one statement; its count runs with ``count_fetch`` (default: ``fetch``)."""
    size = page_size(first)
    where = _filtered_sql(actor, flt)
    count_sql, count_values = f"SELECT count(*) FROM devices WHERE {where.sql}", list(where.values)  # noqa: S608
    if after:
        (serial,) = decode_cursor(after, 1)
        if not isinstance(serial, str):
            raise BadInput("after", "The cursor is not valid.")
        where.add("serial_number > {}", serial)
    limit = len(where.values) + 1
    sql = f"SELECT {_ROW_COLUMNS} FROM devices WHERE {where.sql} ORDER BY serial_number LIMIT ${limit}"  # noqa: S608
    rows = [DeviceRow(*r) for r in await fetch(sql, *where.values, size + 1)]
    has_next = len(rows) > size
    rows = rows[:size]
    cursor = encode_cursor([rows[-1].serial_number]) if rows else None
    count_with = count_fetch or fetch

    async def count() -> int:
        if _countable(flt):
            return await count_from_totals(actor, flt, fetch=count_with)
        return int((await count_with(count_sql, *count_values))[0][0])

    return Page(rows, has_next, cursor, None, count)


def _countable(flt: DeviceFilter) -> bool:
    """Filters the trigger-kept counts can answer: organisation, claim status, device type and batch."""
    return not (flt.serial_numbers or flt.search or flt.labels)


async def _batch_ids(flt: DeviceFilter) -> list[UUID] | None:
    """The batches a batch reference filter names (as filtered() matches them), None without that filter."""
    if not flt.batch_references:
        return None
    ids = await BatchReference.filter(reference__in=list(flt.batch_references)).values_list("id", flat=True)
    return [UUID(str(i)) for i in ids]


def _counted(query: Any, actor: Actor, flt: DeviceFilter, batch_ids: list[UUID] | None) -> Any:
    """A count table's rows under the filter's organisation, claim status, type and batch conditions."""
    if flt.organisation_ids:
        query = query.filter(owner_id__in=[_uuid(i, "organisationIds") for i in flt.organisation_ids])
    if flt.claim_status:
        query = query.filter(claim_status=flt.claim_status)
    if flt.device_types:
        query = query.filter(device_type__in=list(flt.device_types))
    if batch_ids is not None:
        query = query.filter(batch_id__in=batch_ids)
    return query


def _totals(actor: Actor, flt: DeviceFilter, batch_ids: list[UUID] | None = None) -> QuerySet[DeviceCount]:
    query: QuerySet[DeviceCount] = _counted(_scope.device_counts(actor), actor, flt, batch_ids)
    return query


async def count_from_totals(actor: Actor, flt: DeviceFilter, *, fetch: Fetch | None = None) -> int:
    """The exact number of matching devices from device_counts (kept by triggers): a handful of rows
    instead of counting the catalog. One hand-written statement on PostgreSQL."""
    if db.dialect() == "postgres":
        where = _Conditions(*_scope.device_counts_sql(actor, 1, "c"))
        if flt.organisation_ids:
            where.add("c.owner_id = ANY({}::uuid[])", [_uuid(i, "organisationIds") for i in flt.organisation_ids])
        if flt.claim_status:
            where.add("c.claim_status = {}", flt.claim_status)
        if flt.device_types:
            where.add("c.device_type = ANY({}::text[])", list(flt.device_types))
        if flt.batch_references:  # as _batch_ids: every batch of that reference
            where.add(
                "c.batch_id IN (SELECT id FROM batch_references WHERE reference = ANY({}::text[]))",
                list(flt.batch_references),
            )
        sql = f"SELECT COALESCE(sum(c.n), 0)::bigint FROM device_counts c WHERE {where.sql}"  # noqa: S608
        return int((await (fetch or db.pg_fetch)(sql, *where.values))[0][0])
    query = _totals(actor, flt, await _batch_ids(flt)).annotate(total=Sum("n"))
    rows: list[Any] = await query.values_list("total", flat=True)
    return sum(int(n or 0) for n in rows)


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


_LABELS_SQL = "SELECT device_id, label FROM device_labels WHERE device_id = ANY($1::uuid[]) ORDER BY label"


async def labels_of(device_ids: list[UUID], *, fetch: Fetch | None = None) -> dict[UUID, list[str]]:
    """The labels of several devices (ids the caller may see) in one statement, in label order."""
    result: dict[UUID, list[str]] = {i: [] for i in device_ids}
    if not device_ids:
        return result
    if db.dialect() == "postgres":
        rows: Any = await (fetch or db.pg_fetch)(_LABELS_SQL, device_ids)
    else:
        rows = await DeviceLabel.filter(device_id__in=device_ids).order_by("label").values_list("device_id", "label")
    for device_id, label in rows:
        result[device_id].append(label)
    return result


async def attributes_of(device_ids: list[UUID]) -> dict[UUID, tuple[str, dict[str, Any]]]:
    """Device type and identifier attributes (DevEUI, M-Bus ID, ...) of several devices in one query.
    Identifiers are not secret; the keys are in another table and never read here."""
    result: dict[UUID, tuple[str, dict[str, Any]]] = {i: ("", {}) for i in device_ids}
    for device_id, device_type, raw in await Device.filter(id__in=device_ids).values_list(
        "id", "device_type", "attributes"
    ):
        try:
            attributes = json.loads(raw or "{}")
        except ValueError:
            attributes = {}
        result[device_id] = (str(device_type), attributes if isinstance(attributes, dict) else {})
    return result


@dataclass(frozen=True)
class Refused:
    serial_number: str
    reason: str


@dataclass(frozen=True)
class ClaimResult:
    """The ids this claim marked CLAIMED, in serial-number order (the devices themselves are loaded only when
    a caller asks for them: a claim of 100,000 answers with a count), and the refused devices with reasons."""

    claimed_ids: list[UUID]
    refused: list[Refused]


async def claim_devices(actor: Actor, device_ids: Sequence[str]) -> ClaimResult:
    """Mark the caller's organisation's devices CLAIMED. One guarded UPDATE per chunk claims each device
    once, however many claims race; the devices it did not claim are then explained one by one."""
    ids = list(dict.fromkeys(_uuid(i, "deviceIds") for i in device_ids))
    if len(ids) > MAX_IMPORT_ROWS:
        raise BadInput("deviceIds", f"At most {MAX_IMPORT_ROWS} devices at once.")
    claimed: list[tuple[str, UUID]] = []
    refused: list[Refused] = []
    now = datetime.now(UTC)
    async with in_transaction():
        # PostgreSQL takes the whole list as one array parameter; SQLite binds one variable per id.
        step = max(len(ids), 1) if db.dialect() == "postgres" else _CHUNK * 5
        for start in range(0, len(ids), step):
            chunk = ids[start : start + step]
            won = await _claim_chunk(chunk, actor.organisation_id, now)
            claimed += won
            won_ids = {device_id for _, device_id in won}
            refused += await _why_not(actor, [i for i in chunk if i not in won_ids])
        claimed.sort()
        if claimed:
            await audit.record(
                "devices.claimed",
                actor,
                target=f"organisation:{actor.organisation_id}",
                details={"count": len(claimed), "serialNumbers": [serial for serial, _ in claimed[:1000]]},
            )
    return ClaimResult([device_id for _, device_id in claimed], refused)


async def devices_by_ids(actor: Actor, ids: Sequence[UUID]) -> list[DeviceRow]:
    """The caller's devices with these ids, in serial-number order (ids it may not see are left out)."""
    if db.dialect() == "postgres":  # one statement with an array parameter; records straight into rows
        scope, bounds = _scope.devices_sql(actor, 2)
        sql = (
            "SELECT id, serial_number, device_type, owner_id, claim_status, claimed_at, created_at, batch_id "  # noqa: S608
            f"FROM devices WHERE id = ANY($1::uuid[]) AND {scope} ORDER BY serial_number"
        )
        return [DeviceRow(*r) for r in await db.pg_fetch(sql, list(ids), *bounds)]
    rows: list[DeviceRow] = []
    for start in range(0, len(ids), _CHUNK):
        for values in await (
            _scope.devices(actor)
            .filter(id__in=ids[start : start + _CHUNK])
            .values_list(
                "id", "serial_number", "device_type", "owner_id", "claim_status", "claimed_at", "created_at", "batch_id"
            )
        ):
            rows.append(DeviceRow(*values))
    return sorted(rows, key=lambda d: d.serial_number)


async def _why_not(actor: Actor, ids: list[UUID]) -> list[Refused]:
    refused = []
    seen: set[UUID] = set()
    for start in range(0, len(ids), _CHUNK):
        rows = (
            await _scope.devices(actor)
            .filter(id__in=ids[start : start + _CHUNK])
            .values_list("id", "serial_number", "owner_id")
        )
        for device_id, serial, owner_id in rows:
            seen.add(device_id)
            reason = (
                "DEVICE_NOT_OWNED" if owner_id != actor.organisation_id else "CONFLICT"
            )  # CONFLICT: claimed already
            refused.append(Refused(str(serial), reason))
    return refused + [Refused(str(i), "DEVICE_NOT_FOUND") for i in ids if i not in seen]


async def _claim_chunk(ids: list[UUID], owner_id: UUID, now: datetime) -> list[tuple[str, UUID]]:
    """Claim the still-UNCLAIMED devices of ``ids`` that ``owner_id`` owns; returns the (serial number, id)
    of those this statement claimed."""
    if not ids:
        return []
    guard = "owner_id = {owner} AND claim_status = 'UNCLAIMED'"
    returning = "RETURNING serial_number, id"
    if db.dialect() == "postgres":
        sql = (
            f"UPDATE devices SET claim_status = 'CLAIMED', claimed_at = $1 WHERE id = ANY($2::uuid[]) AND "  # noqa: S608
            f"{guard.format(owner='$3')} {returning}"
        )
        return [(r[0], r[1]) for r in await db.pg_fetch(sql, now, ids, owner_id)]
    marks = ", ".join("?" for _ in ids)
    sql = (
        f"UPDATE devices SET claim_status = 'CLAIMED', claimed_at = ? WHERE id IN ({marks}) AND "  # noqa: S608
        f"{guard.format(owner='?')} {returning}"
    )
    values = [now, *[str(i) for i in ids], str(owner_id)]
    rows = await connections.get("default").execute_query_dict(sql, values)
    return [(r["serial_number"], UUID(str(r["id"]))) for r in rows]


async def set_labels(actor: Actor, device_ids: Sequence[str], labels: Sequence[str]) -> list[Device]:
    """Replace the labels of a selection of the caller's devices (all of them, or none)."""
    clean = list(dict.fromkeys(label.strip() for label in labels if label.strip()))
    if len(clean) > MAX_LABELS or any(not LABEL.match(label) for label in clean):
        raise BadInput("labels", f"Up to {MAX_LABELS} labels of 1-100 characters without line breaks.")
    ids = list(dict.fromkeys(_uuid(i, "deviceIds") for i in device_ids))
    if len(ids) > MAX_IMPORT_ROWS:
        raise BadInput("deviceIds", f"At most {MAX_IMPORT_ROWS} devices at once.")
    found: list[Device] = []
    for start in range(0, len(ids), _CHUNK):
        found += await _scope.devices(actor).filter(id__in=ids[start : start + _CHUNK])
    if len(found) != len(ids):
        raise KmsError("Some devices are unknown to you; no label was changed.", code="DEVICE_NOT_FOUND")
    async with in_transaction():
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            await DeviceLabel.filter(device_id__in=chunk).delete()
            await DeviceLabel.bulk_create(
                [DeviceLabel(device_id=i, label=label) for i in chunk for label in clean], batch_size=_CHUNK
            )
        await audit.record(
            "devices.labelled",
            actor,
            target=f"organisation:{actor.organisation_id}",
            details={"count": len(ids), "labels": clean},
        )
    return sorted(found, key=lambda d: d.serial_number)


@dataclass(frozen=True)
class Facets:
    device_types: list[tuple[str, int]]
    claim_statuses: list[tuple[str, int]]
    labels: list[tuple[str, int]]
    batch_references: list[tuple[str, int]]


async def facets(actor: Actor, flt: DeviceFilter) -> Facets:
    """Distinct values with counts for the filter dropdowns: each facet under the other active filters.
    Under organisation, claim status, type and batch filters the counts come from the trigger-kept tables
    (a few thousand rows for a million devices); serial, search and label filters group the devices."""
    batch_ids = await _batch_ids(flt)
    if _countable(flt):
        types, statuses, per_batch = await _facets_from_totals(actor, flt, batch_ids)
    else:
        types = await _grouped(filtered(actor, replace(flt, device_types=None)), "device_type")
        statuses = await _grouped(filtered(actor, replace(flt, claim_status=None)), "claim_status")
        per_batch = await _grouped_by_batch(actor, replace(flt, batch_references=None))
    if _countable(replace(flt, labels=None)):
        label_rows = (
            await _counted(_scope.device_label_counts(actor), actor, flt, batch_ids)
            .annotate(total=Sum("n"))
            .group_by("label")
            .values_list("label", "total")
        )
    else:
        label_scope = Subquery(filtered(actor, replace(flt, labels=None)).values("id"))
        label_rows = (
            await DeviceLabel.filter(device_id__in=label_scope)
            .annotate(total=Count("id"))
            .group_by("label")
            .values_list("label", "total")
        )
    labels = sorted((str(v), int(n)) for v, n in label_rows if n)
    # Name the few batches found; one reference may name batches of several organisations.
    names = dict(await BatchReference.filter(id__in=list(per_batch)).values_list("id", "reference"))
    by_reference: Counter[str] = Counter()
    for batch_id, n in per_batch.items():
        by_reference[str(names[batch_id])] += n
    return Facets(types, statuses, labels, sorted(by_reference.items()))


async def _grouped(query: QuerySet[Device], column: str) -> list[tuple[str, int]]:
    rows = await query.annotate(n=Count("id")).group_by(column).values_list(column, "n")
    return sorted(((str(v), int(n)) for v, n in rows if v is not None), key=lambda r: r[0])


async def _grouped_by_batch(actor: Actor, flt: DeviceFilter) -> dict[UUID, int]:
    """Devices per batch id (no join over the catalog)."""
    rows = (
        await filtered(actor, flt)
        .filter(batch_id__not_isnull=True)
        .annotate(n=Count("id"))
        .group_by("batch_id")
        .values_list("batch_id", "n")
    )
    return {UUID(str(b)): int(n) for b, n in rows}


async def _facets_from_totals(
    actor: Actor, flt: DeviceFilter, batch_ids: list[UUID] | None
) -> tuple[list[tuple[str, int]], list[tuple[str, int]], dict[UUID, int]]:
    """Device type, claim status and batch facets from one grouped read of device_counts: the rows under
    the organisation filter, each facet then summed under the other two filters."""
    rows = (
        await _totals(actor, replace(flt, claim_status=None, device_types=None))
        .annotate(total=Sum("n"))
        .group_by("claim_status", "device_type", "batch_id")
        .values_list("claim_status", "device_type", "batch_id", "total")
    )
    wanted_types = set(flt.device_types) if flt.device_types else None
    wanted_batches = set(batch_ids) if batch_ids is not None else None
    types: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    per_batch: Counter[UUID] = Counter()
    for status, device_type, batch, total in rows:
        n = int(total or 0)
        batch_id = UUID(str(batch)) if batch is not None else None
        status_ok = not flt.claim_status or status == flt.claim_status
        type_ok = wanted_types is None or device_type in wanted_types
        batch_ok = wanted_batches is None or batch_id in wanted_batches
        if status_ok and batch_ok:
            types[str(device_type)] += n
        if type_ok and batch_ok:
            statuses[str(status)] += n
        if status_ok and type_ok and batch_id is not None:
            per_batch[batch_id] += n
    return (
        sorted((v, n) for v, n in types.items() if n > 0),
        sorted((v, n) for v, n in statuses.items() if n > 0),
        {b: n for b, n in per_batch.items() if n > 0},
    )
