"""Facets of the catalog filter: distinct values with counts, mostly from the trigger-kept counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from uuid import UUID

from tortoise.expressions import Subquery
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet

from models.devices import Device, DeviceLabel
from resolvers import _scope
from resolvers.actor import Actor
from resolvers.devices.catalog import _batch_ids, _countable, _counted, _totals, filtered
from resolvers.devices.common import DeviceFilter


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
    batch_ids = await _batch_ids(actor, flt)
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
    # Name the few batches found that the caller may see (a device of its subtree may wait in a batch its
    # parent sent, which it may not); one reference may name batches of several organisations.
    names = dict(await _scope.batches(actor).filter(id__in=list(per_batch)).values_list("id", "reference"))
    by_reference: Counter[str] = Counter()
    for batch_id, n in per_batch.items():
        if batch_id in names:
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
