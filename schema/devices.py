"""GraphQL of devices: the catalog, device types, import and claim."""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info
from strawberry.types.arguments import InputContext

from crypto.kcv import KeyAlgorithm
from models.devices import Device
from plugins.base import DeviceType, Radio
from resolvers import batches, devices
from resolvers.keystore import keystore, registry
from resolvers.roles import Permission
from schema.common import Connection
from schema.organisations import OrganisationType, load_organisation
from schema.permissions import requires

if TYPE_CHECKING:
    from schema.batches import BatchReferenceType

RadioEnum = strawberry.enum(Radio, name="Radio")
KeyAlgorithmEnum = strawberry.enum(KeyAlgorithm, name="KeyAlgorithm")


@strawberry.enum
class ClaimStatus(enum.Enum):
    CLAIMED = "CLAIMED"
    UNCLAIMED = "UNCLAIMED"


@strawberry.type
class KeySlot:
    key_type: str
    algorithm: KeyAlgorithmEnum  # type: ignore[valid-type]


@strawberry.type(name="DeviceType")
class DeviceTypeType:
    id: strawberry.ID
    name: str
    product: str
    radio: RadioEnum  # type: ignore[valid-type]
    key_slots: list[KeySlot]

    @classmethod
    def of(cls, t: DeviceType) -> DeviceTypeType:
        return cls(
            id=strawberry.ID(t.id),
            name=t.name,
            product=t.product,
            radio=t.radio,
            key_slots=[KeySlot(key_type=s.key_type, algorithm=s.algorithm) for s in t.key_slots],
        )


@strawberry.type(description="Metadata of a stored key. The key itself is only ever handed out by releaseKeys.")
class DeviceKey:
    key_type: str
    algorithm: KeyAlgorithmEnum  # type: ignore[valid-type]
    check_value: str = strawberry.field(
        description="Key check value: first 3 bytes of the key encrypting a zero block, hex."
    )
    created_at: datetime


@strawberry.type(description="A non-secret identifier of a device, named by its plugin (devEui, mbusId, ...).")
class DeviceIdentifier:
    name: str
    value: str


@functools.cache
def _device_type(plugins: tuple[str, ...], type_id: str) -> DeviceTypeType:
    """Device types are immutable plugin data: one GraphQL object per type, not one per row."""
    return DeviceTypeType.of(registry(plugins).device_type(type_id))


def _loader(info: Info, name: str, load: Any) -> DataLoader[Any, Any]:
    loaders = info.context.loaders
    if name not in loaders:
        loaders[name] = DataLoader(load_fn=load)
    loader: DataLoader[Any, Any] = loaders[name]
    return loader


async def _load_keys(ids: list[Any]) -> list[list[DeviceKey]]:
    found = await devices.keys_of(ids)
    return [
        [
            DeviceKey(
                key_type=k.key_type,
                algorithm=KeyAlgorithm(k.algorithm),
                check_value=k.check_value,
                created_at=k.created_at,
            )
            for k in found[i]
        ]
        for i in ids
    ]


async def _load_labels(ids: list[Any]) -> list[list[str]]:
    found = await devices.labels_of(ids)
    return [found[i] for i in ids]


def _identifiers_loader(info: Info) -> DataLoader[Any, Any]:
    plugins = registry(info.context.settings.plugins)

    async def load(ids: list[Any]) -> list[list[DeviceIdentifier]]:
        found = await devices.attributes_of(ids)
        return [[DeviceIdentifier(name=n, value=v) for n, v in plugins.identifiers(*found[i])] for i in ids]

    return _loader(info, "identifiers", load)


@strawberry.type(name="Device")
class DeviceObject:
    id: strawberry.ID
    serial_number: str
    claim_status: ClaimStatus
    claimed_at: datetime | None
    created_at: datetime
    _model: strawberry.Private[Device | devices.DeviceRow]
    # Field values loaded by preload_page for a whole page (see schema.executor.PRELOADED): labels,
    # batch_reference and device_type. Without them the fields load through DataLoaders.
    _preloaded: strawberry.Private[dict[str, Any] | None] = None

    @classmethod
    def of(cls, d: Device | devices.DeviceRow) -> DeviceObject:
        return cls(
            id=strawberry.ID(str(d.id)),
            serial_number=d.serial_number,
            claim_status=ClaimStatus(d.claim_status),
            claimed_at=d.claimed_at,
            created_at=d.created_at,
            _model=d,
        )

    @strawberry.field
    def device_type(self, info: Info) -> DeviceTypeType:
        if self._preloaded and "device_type" in self._preloaded:
            return cast(DeviceTypeType, self._preloaded["device_type"])
        return _device_type(info.context.settings.plugins, self._model.device_type)

    @strawberry.field
    async def owner(self, info: Info) -> OrganisationType:
        return await load_organisation(info, self._model.owner_id)  # type: ignore[union-attr]

    @strawberry.field
    def labels(self, info: Info) -> list[str]:
        if self._preloaded and "labels" in self._preloaded:
            return cast(list[str], self._preloaded["labels"])
        # Not preloaded: a DataLoader future, which graphql-core awaits like a coroutine. The field itself
        # stays synchronous so that a preloaded page costs no task per device.
        return cast(list[str], _loader(info, "labels", _load_labels).load(self._model.id))

    @strawberry.field(
        extensions=requires(Permission.READ_CATALOG),
        description="The device's identifiers (DevEUI, JoinEUI, M-Bus ID, ...) as its plugin names them.",
    )
    async def identifiers(self, info: Info) -> list[DeviceIdentifier]:
        found: list[DeviceIdentifier] = await _identifiers_loader(info).load(self._model.id)
        return found

    @strawberry.field
    async def keys(self, info: Info) -> list[DeviceKey]:
        found: list[DeviceKey] = await _loader(info, "keys", _load_keys).load(self._model.id)
        return found

    @strawberry.field
    def batch_reference(self, info: Info) -> Annotated[BatchReferenceType, strawberry.lazy("schema.batches")] | None:
        from schema.batches import load_batch

        if self._preloaded and "batch_reference" in self._preloaded:
            return cast("BatchReferenceType | None", self._preloaded["batch_reference"])
        batch_id = self._model.batch_id  # type: ignore[union-attr]
        # Not preloaded: a coroutine, awaited by graphql-core (see labels).
        return cast("BatchReferenceType | None", load_batch(info, batch_id)) if batch_id else None


def _selected_under(info: Info, container: str | None) -> set[str]:
    """The field names the query selects inside ``container`` (e.g. "nodes") of the current field, or
    directly in it (None), fragments included."""

    def names(selections: list[Any], inside: bool) -> set[str]:
        found: set[str] = set()
        for selection in selections:
            name = getattr(selection, "name", None)
            children = getattr(selection, "selections", None) or []
            if name is None or not hasattr(selection, "alias"):  # a fragment: look inside at the same level
                found |= names(children, inside)
            elif inside:
                found.add(name)
            elif name == container:
                found |= names(children, True)
        return found

    return names([child for field in info.selected_fields for child in field.selections], container is None)


def _preload(
    info: Info,
    objects: list[DeviceObject],
    wanted: set[str],
    labels: dict[Any, list[str]] | None,
    found_batches: dict[Any, Any] | None,
) -> list[DeviceObject]:
    """Set the values of the page's device types, labels and batch references on its objects (see
    schema.executor.PRELOADED): the fields then answer without a resolver call or a task per device (an
    asynchronous field per device was most of a catalog page's CPU)."""
    from schema.batches import BatchReferenceType

    plugins = info.context.settings.plugins
    by_id = {i: BatchReferenceType.of(b) for i, b in found_batches.items()} if found_batches is not None else None
    for o in objects:
        model = o._model
        preloaded: dict[str, Any] = {}
        if "deviceType" in wanted:
            preloaded["device_type"] = _device_type(plugins, model.device_type)
        if labels is not None:
            preloaded["labels"] = labels[model.id]
        if by_id is not None:
            batch_id = model.batch_id  # type: ignore[union-attr]
            preloaded["batch_reference"] = by_id.get(batch_id) if batch_id is not None else None
        o._preloaded = preloaded
    return objects


async def preload_page(info: Info, objects: list[DeviceObject], container: str = "nodes") -> list[DeviceObject]:
    """Device types, labels and batch references of a page of devices (one query each for labels and
    batches) before the fields resolve. Only what the query selects."""
    wanted = _selected_under(info, container)
    if not objects or not wanted & {"labels", "batchReference", "deviceType"}:
        return objects
    ids = [o._model.id for o in objects]
    labels = await devices.labels_of(ids) if "labels" in wanted else None
    found_batches = None
    if "batchReference" in wanted:
        batch_ids = list(dict.fromkeys(b for o in objects if (b := o._model.batch_id) is not None))  # type: ignore[union-attr]
        visible = await batches.visible_batches(info.context.require_actor(), batch_ids)
        found_batches = {b.id: b for b in visible if b is not None}
    return _preload(info, objects, wanted, labels, found_batches)


@strawberry.type
class RefusedDevice:
    serial_number: str
    reason: str = strawberry.field(
        description="A code from shared/api/errors.md, e.g. DEVICE_UNCLAIMED or DEVICE_NOT_FOUND."
    )


@strawberry.type
class ClaimResult:
    claimed_count: int = strawberry.field(description="How many devices this call claimed.")
    refused: list[RefusedDevice]
    _claimed_ids: strawberry.Private[list[UUID]]

    @strawberry.field(description="The devices this call claimed, by serial number (loaded only when asked for).")
    async def claimed(self, info: Info) -> list[DeviceObject]:
        rows = await devices.devices_by_ids(info.context.require_actor(), self._claimed_ids)
        return [DeviceObject.of(d) for d in rows]


@strawberry.input
class DeviceFilter:
    serial_numbers: list[str] | None = None
    search: str | None = None
    device_types: list[strawberry.ID] | None = None
    claim_status: ClaimStatus | None = None
    labels: list[str] | None = None
    batch_references: list[str] | None = None
    organisation_ids: list[strawberry.ID] | None = None

    def to_resolver(self) -> devices.DeviceFilter:
        return devices.DeviceFilter(
            serial_numbers=self.serial_numbers,
            search=self.search,
            device_types=[str(t) for t in self.device_types] if self.device_types else None,
            claim_status=self.claim_status.value if self.claim_status else None,
            labels=self.labels,
            batch_references=self.batch_references,
            organisation_ids=[str(o) for o in self.organisation_ids] if self.organisation_ids else None,
        )


def _filter_from_input(cls: type, value: Mapping[str, Any], context: InputContext) -> DeviceFilter:
    """Builds the catalog filter from graphql-core's already coerced value (strawberry's documented
    ``from_input`` hook, as for import rows): its generic conversion looks up every field's type on every
    request. Lists are copied, as strawberry does; fields left out keep their defaults (None)."""

    def listed(name: str) -> list[Any] | None:
        found = value.get(name)
        return None if found is None else list(found)

    status = value.get("claimStatus")
    return DeviceFilter(
        serial_numbers=listed("serialNumbers"),
        search=value.get("search"),
        device_types=listed("deviceTypes"),
        claim_status=None if status is None else ClaimStatus(status),
        labels=listed("labels"),
        batch_references=listed("batchReferences"),
        organisation_ids=listed("organisationIds"),
    )


DeviceFilter.__strawberry_definition__.from_input = _filter_from_input  # type: ignore[attr-defined]


@strawberry.input
class KeyValueInput:
    key_type: str
    value: str


@strawberry.input
class DeviceImportRow:
    serial_number: str
    device_type: strawberry.ID
    keys: list[KeyValueInput] | None = strawberry.field(
        default=None, description="keyType to hex value; a missing slot is generated by the platform."
    )
    attributes: str | None = None


def _import_row_from_input(cls: type, value: Mapping[str, Any], context: InputContext) -> DeviceImportRow:
    """Builds an import row from graphql-core's already coerced value. Strawberry's generic conversion looks up
    every field's type for every row: for 100,000 rows that was about half the CPU of an import. This is
    strawberry's documented ``from_input`` hook; optional fields the client left out keep their defaults."""
    keys = value.get("keys")
    return DeviceImportRow(
        serial_number=value["serialNumber"],
        device_type=strawberry.ID(value["deviceType"]),
        keys=None if keys is None else [KeyValueInput(key_type=k["keyType"], value=k["value"]) for k in keys],
        attributes=value.get("attributes"),
    )


DeviceImportRow.__strawberry_definition__.from_input = _import_row_from_input  # type: ignore[attr-defined]


@strawberry.type
class FacetValue:
    value: str
    count: int


@strawberry.type(description="Distinct values for the catalog's filter dropdowns, within what the caller may see.")
class DeviceFacets:
    device_types: list[FacetValue]
    claim_statuses: list[FacetValue]
    labels: list[FacetValue]
    batch_references: list[FacetValue]


def _facet(rows: list[tuple[str, int]]) -> list[FacetValue]:
    return [FacetValue(value=v, count=n) for v, n in rows]


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
        )
        objects = [DeviceObject.of(d) for d in found.page.nodes]
        return Connection.of(found.page, _preload(info, objects, wanted, found.labels, found.batches))

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
            kek=keystore(settings).current(),
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
        result = await devices.claim_devices(info.context.require_actor(), [str(i) for i in device_ids])
        return ClaimResult(
            claimed_count=len(result.claimed_ids),
            refused=[RefusedDevice(serial_number=r.serial_number, reason=r.reason) for r in result.refused],
            _claimed_ids=result.claimed_ids,
        )
