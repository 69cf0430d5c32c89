"""GraphQL operations of devices: the catalog, device types, facets, import, labels and claims."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry
from strawberry.types import Info

from resolvers import devices
from resolvers.keystore import keystore, registry
from resolvers.roles import Permission
from schema.common import Connection
from schema.permissions import requires

if TYPE_CHECKING:
    pass
from schema.devices.inputs import DeviceFilter, DeviceImportRow
from schema.devices.types import (
    ClaimResult,
    DeviceFacets,
    DeviceObject,
    DeviceTypeType,
    RefusedDevice,
    _facet,
    _selected_under,
    page_objects,
)

#: Root fields that may run on the connection the request's session lookup took (models.db.Lease) when one
#: of them is the whole operation: they use nothing else of the pool while they hold it.
LEASED_ROOT_FIELDS = frozenset({"devices"})


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(Permission.READ_CATALOG))
    async def device_facets(self, info: Info, filter: DeviceFilter | None = None) -> DeviceFacets:
        flt = filter.to_resolver() if filter else devices.DeviceFilter()
        f = await devices.facets(info.context.require_actor(), flt)
        return DeviceFacets(
            device_types=_facet(f.device_types),
            claim_statuses=_facet(f.claim_statuses),
            labels=_facet(f.labels),
            batch_references=_facet(f.batch_references),
        )

    @strawberry.field(extensions=requires(Permission.READ_CATALOG))
    async def device(self, info: Info, id: strawberry.ID) -> DeviceObject | None:
        return DeviceObject.of(await devices.get_device(info.context.require_actor(), id))

    @strawberry.field(extensions=requires(Permission.READ_CATALOG))
    async def devices(
        self, info: Info, filter: DeviceFilter | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[DeviceObject]:
        flt = filter.to_resolver() if filter else devices.DeviceFilter()
        wanted = _selected_under(info, "nodes")
        found = await devices.catalog_page(
            info.context.require_actor(),
            flt,
            first=first,
            after=after,
            labels="labels" in wanted,
            batches="batchReference" in wanted,
            total="totalCount" in _selected_under(info, None),
            lease=info.context.take_lease(),
        )
        return Connection.of(found.page, page_objects(info, found.page.nodes, wanted, found.labels, found.batches))

    @strawberry.field(extensions=requires(Permission.READ_CATALOG))
    def device_types(self, info: Info) -> list[DeviceTypeType]:
        return [DeviceTypeType.of(t) for t in registry(info.context.settings.plugins).device_types()]


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires(Permission.IMPORT_DEVICES))
    async def import_devices(
        self, info: Info, organisation_id: strawberry.ID, rows: list[DeviceImportRow]
    ) -> list[DeviceObject]:
        settings = info.context.settings
        plain = [
            devices.ImportRow(
                r.serial_number, str(r.device_type), [(k.key_type, k.value) for k in r.keys or []], r.attributes
            )
            for r in rows
        ]
        imported = await devices.import_devices(
            info.context.require_actor(),
            organisation_id,
            plain,
            keys=keystore(settings),
            registry=registry(settings.plugins),
        )
        return [DeviceObject.of(d) for d in imported]

    @strawberry.mutation(extensions=requires(Permission.MANAGE_BATCHES))
    async def set_device_labels(
        self, info: Info, device_ids: list[strawberry.ID], labels: list[str]
    ) -> list[DeviceObject]:
        found = await devices.set_labels(info.context.require_actor(), [str(i) for i in device_ids], labels)
        return [DeviceObject.of(d) for d in found]

    @strawberry.mutation(extensions=requires(Permission.CLAIM_DEVICES))
    async def claim_devices(self, info: Info, device_ids: list[strawberry.ID]) -> ClaimResult:
        result = await devices.claim_devices(info.context.require_actor(), device_ids)
        return ClaimResult(
            claimed_count=len(result.claimed_ids),
            refused=[RefusedDevice(serial_number=r.serial_number, reason=r.reason) for r in result.refused],
            _claimed_ids=result.claimed_ids,
        )
