"""GraphQL types of devices: device types, key metadata, the device (fields preloaded per page), results."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast
from uuid import UUID

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from crypto.kcv import KeyAlgorithm
from models.devices import Device
from plugins.base import DeviceType, Radio
from resolvers import batches, devices
from resolvers.keystore import registry
from resolvers.roles import Permission
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


_CLAIM_STATUSES = {status.value: status for status in ClaimStatus}  # a dict lookup costs less than the call


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
    def of(cls, d: Device | devices.DeviceRow, preloaded: dict[str, Any] | None = None) -> DeviceObject:
        return cls(
            id=strawberry.ID(str(d.id)),
            serial_number=d.serial_number,
            claim_status=_CLAIM_STATUSES.get(d.claim_status) or ClaimStatus(d.claim_status),
            claimed_at=d.claimed_at,
            created_at=d.created_at,
            _model=d,
            _preloaded=preloaded,
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
    directly in it (None), fragments included. Read from graphql-core's syntax tree: strawberry's
    ``selected_fields`` builds a tree of objects for the whole selection on every call."""
    raw = info._raw_info
    fragments = raw.fragments

    def names(selections: Any, inside: bool) -> set[str]:
        found: set[str] = set()
        for selection in selections:
            if isinstance(selection, FieldNode):
                if inside:
                    found.add(selection.name.value)
                elif selection.name.value == container and selection.selection_set:
                    found |= names(selection.selection_set.selections, True)
            elif isinstance(selection, FragmentSpreadNode):  # look inside at the same level
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    found |= names(fragment.selection_set.selections, inside)
            elif isinstance(selection, InlineFragmentNode):
                found |= names(selection.selection_set.selections, inside)
        return found

    return names(
        [child for node in raw.field_nodes if node.selection_set for child in node.selection_set.selections],
        container is None,
    )


def _preloader(
    info: Info, wanted: set[str], labels: dict[Any, list[str]] | None, found_batches: dict[Any, Any] | None
) -> Callable[[Device | devices.DeviceRow], dict[str, Any]]:
    """The values of a device's type, labels and batch reference as a page loaded them (see
    schema.executor.PRELOADED): the fields then answer without a resolver call or a task per device (an
    asynchronous field per device was most of a catalog page's CPU)."""
    from schema.batches import BatchReferenceType

    plugins = info.context.settings.plugins
    by_id = {i: BatchReferenceType.of(b) for i, b in found_batches.items()} if found_batches is not None else None
    types = "deviceType" in wanted

    if types and labels is not None and by_id is not None:  # the console's catalog page: one dict display

        def everything(model: Device | devices.DeviceRow) -> dict[str, Any]:
            batch_id = model.batch_id  # type: ignore[union-attr]
            return {
                "device_type": _device_type(plugins, model.device_type),
                "labels": labels[model.id],
                "batch_reference": by_id.get(batch_id) if batch_id is not None else None,
            }

        return everything

    def preloaded(model: Device | devices.DeviceRow) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if types:
            values["device_type"] = _device_type(plugins, model.device_type)
        if labels is not None:
            values["labels"] = labels[model.id]
        if by_id is not None:
            batch_id = model.batch_id  # type: ignore[union-attr]
            values["batch_reference"] = by_id.get(batch_id) if batch_id is not None else None
        return values

    return preloaded


def page_objects(
    info: Info,
    rows: Sequence[Device | devices.DeviceRow],
    wanted: set[str],
    labels: dict[Any, list[str]] | None,
    found_batches: dict[Any, Any] | None,
) -> list[DeviceObject]:
    """A page of devices as objects with their preloaded values, built in one pass."""
    preloaded = _preloader(info, wanted, labels, found_batches)
    return [DeviceObject.of(row, preloaded(row)) for row in rows]


async def preload_page(
    info: Info, rows: Sequence[Device | devices.DeviceRow], container: str = "nodes"
) -> list[DeviceObject]:
    """A page of devices as objects with their device types, labels and batch references (one query each for
    labels and batches) loaded before the fields resolve. Only what the query selects."""
    wanted = _selected_under(info, container)
    if not rows or not wanted & {"labels", "batchReference", "deviceType"}:
        return [DeviceObject.of(row) for row in rows]
    ids = [row.id for row in rows]
    labels = await devices.labels_of(ids) if "labels" in wanted else None
    found_batches = None
    if "batchReference" in wanted:
        batch_ids = list(dict.fromkeys(b for row in rows if (b := row.batch_id) is not None))  # type: ignore[union-attr]
        visible = await batches.visible_batches(info.context.require_actor(), batch_ids)
        found_batches = {b.id: b for b in visible if b is not None}
    return page_objects(info, rows, wanted, labels, found_batches)


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
