"""The device catalog: filters, keyset pages (hand-written statements on PostgreSQL), counts, labels."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.expressions import Subquery
from tortoise.filters import escape_like
from tortoise.functions import Sum
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models import db
from models.devices import BatchReference, Device, DeviceCount, DeviceLabel
from models.keys import DeviceKey
from models.organisations import Organisation
from resolvers import _scope, audit
from resolvers.actor import Actor
from resolvers.devices.common import (
    _CHUNK,
    _ROW_COLUMNS,
    LABEL,
    MAX_FILTER_SERIALS,
    MAX_IMPORT_ROWS,
    MAX_LABELS,
    BatchRow,
    DeviceFilter,
    DeviceRow,
    Fetch,
    _uuid,
)
from resolvers.errors import BadInput, KmsError
from resolvers.pagination import Page, cursor_text, decode_cursor, encode_cursor, page_size, paginate


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
    if flt.organisation_ids:  # by their paths: the index (owner_path, serial_number) (migration 0012)
        ids = [_uuid(i, "organisationIds") for i in flt.organisation_ids]
        query = query.filter(owner_path__in=Subquery(Organisation.filter(id__in=ids).values("path")))
    if flt.labels:
        query = query.filter(id__in=Subquery(DeviceLabel.filter(label__in=list(flt.labels)).values("device_id")))
    if flt.batch_references:  # batches the caller may see (a device may sit in a batch it may not)
        visible = _scope.batches(actor).filter(reference__in=list(flt.batch_references))
        query = query.filter(batch_id__in=Subquery(visible.values("id")))
    return query


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
    batches: dict[UUID, BatchReference | BatchRow] | None = None


async def catalog_page(
    actor: Actor,
    flt: DeviceFilter,
    *,
    first: int | None,
    after: str | None,
    labels: bool = False,
    batches: bool = False,
    total: bool = False,
    lease: db.Lease | None = None,
) -> CatalogPage:
    """list_devices with the page's labels, batch references and total as asked. On PostgreSQL its statements
    run on one pooled connection: the request's leased one if given (released here), else one acquired for
    the page (each acquisition costs the server a reset round trip when released)."""
    if db.dialect() != "postgres":
        return await _catalog_page(actor, flt, first, after, labels, batches, None)
    # Without total, a count asked for later runs after the connection went back to the pool.
    count_fetch = None if total else db.pg_fetch
    if lease is not None:
        try:
            return await _catalog_page(
                actor, flt, first, after, labels, batches, lease.connection.fetch, count_fetch, total
            )
        finally:
            await lease.release()
    async with connections.get("default").acquire_connection() as connection:
        return await _catalog_page(actor, flt, first, after, labels, batches, connection.fetch, count_fetch, total)


async def _catalog_page(
    actor: Actor,
    flt: DeviceFilter,
    first: int | None,
    after: str | None,
    labels: bool,
    batches: bool,
    fetch: Fetch | None,
    count_fetch: Fetch | None = None,
    total: bool = False,
) -> CatalogPage:
    from resolvers.batches import visible_batches  # resolvers.batches imports this module

    page = await list_devices(actor, flt, first=first, after=after, fetch=fetch, count_fetch=count_fetch)
    if total:  # counted now, on the same connection
        page.known_total = await page.total_count()
    found = CatalogPage(page)
    ids = [d.id for d in page.nodes]
    if labels:
        found.labels = await labels_of(ids, fetch=fetch)
    if batches:
        batch_ids = list(dict.fromkeys(b for d in page.nodes if (b := d.batch_id) is not None))  # type: ignore[union-attr]
        visible = await visible_batches(actor, batch_ids, fetch=fetch)
        found.batches = {b.id: b for b in visible if b is not None}
    return found


class _Conditions:
    """SQL conditions joined by AND, with their PostgreSQL parameters numbered as they are added."""

    def __init__(self, condition: str, values: list[Any]) -> None:
        self.conditions = [condition]
        self.values: list[Any] = list(values)

    def add(self, template: str, value: Any) -> None:
        """``template`` holds ``{}`` where the new parameter goes."""
        self.values.append(value)
        self.conditions.append(template.format(f"${len(self.values)}"))

    def add_batches(self, actor: Actor, column: str, references: Sequence[str]) -> None:
        """``column`` names a batch with one of these references that the caller may see (_scope.batches_sql)."""
        self.values.append(list(references))
        references_parameter = len(self.values)
        scope, bounds = _scope.batches_sql(actor, references_parameter + 1, "b")
        self.values += bounds
        self.conditions.append(
            f"{column} IN (SELECT b.id FROM batch_references b "  # noqa: S608
            f"WHERE b.reference = ANY(${references_parameter}::text[]) AND {scope})"
        )

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
        where.add(  # as filtered(): by the organisations' paths
            "owner_path = ANY(ARRAY(SELECT path FROM organisations WHERE id = ANY({}::uuid[])))",
            [_uuid(i, "organisationIds") for i in flt.organisation_ids],
        )
    if flt.labels:
        where.add("id IN (SELECT device_id FROM device_labels WHERE label = ANY({}::text[]))", list(flt.labels))
    if flt.batch_references:
        where.add_batches(actor, "batch_id", flt.batch_references)
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
        if not cursor_text(serial, Device._meta.fields_map["serial_number"].max_length):  # type: ignore[attr-defined]
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


async def _batch_ids(actor: Actor, flt: DeviceFilter) -> list[UUID] | None:
    """The batches a batch reference filter names (as filtered() matches them), None without that filter."""
    if not flt.batch_references:
        return None
    query = _scope.batches(actor).filter(reference__in=list(flt.batch_references))
    ids = await query.values_list("id", flat=True)
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
        if flt.batch_references:  # as _batch_ids: every batch of that reference the caller may see
            where.add_batches(actor, "c.batch_id", flt.batch_references)
        sql = f"SELECT COALESCE(sum(c.n), 0)::bigint FROM device_counts c WHERE {where.sql}"  # noqa: S608
        return int((await (fetch or db.pg_fetch)(sql, *where.values))[0][0])
    query = _totals(actor, flt, await _batch_ids(actor, flt)).annotate(total=Sum("n"))
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
