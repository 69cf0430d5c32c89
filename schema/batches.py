"""GraphQL of batch references."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from starlette.datastructures import UploadFile
from strawberry.dataloader import DataLoader
from strawberry.file_uploads import Upload
from strawberry.types import Info

from models.devices import BatchReference
from resolvers import _scope, batches
from resolvers.devices import BatchRow
from resolvers.errors import NotFound
from resolvers.roles import Permission
from schema.common import Connection
from schema.devices import DeviceObject, RefusedDevice, preload_page
from schema.organisations import OrganisationType, load_organisation
from schema.permissions import requires


@strawberry.enum
class BatchState(enum.Enum):
    PENDING_CONFIRMATION = "PENDING_CONFIRMATION"
    ACCEPTED = "ACCEPTED"
    WITHDRAWN = "WITHDRAWN"  # by its sender while it waited for confirmation


@strawberry.type(name="BatchReference")
class BatchReferenceType:
    id: strawberry.ID
    reference: str
    label: str | None
    requires_confirmation: bool
    state: BatchState
    device_count: int
    created_at: datetime
    _model: strawberry.Private[BatchReference | BatchRow]

    @classmethod
    def of(cls, b: BatchReference | BatchRow) -> BatchReferenceType:
        return cls(
            id=strawberry.ID(str(b.id)),
            reference=b.reference,
            label=b.label,
            requires_confirmation=b.requires_confirmation,
            state=BatchState(b.state),
            device_count=b.device_count,
            created_at=b.created_at,
            _model=b,
        )

    @strawberry.field
    async def organisation(self, info: Info) -> OrganisationType:
        """The organisation the batch is addressed to. A partner stays named (name and ID only) on the
        batches sent to it after the partner link is removed: the sender addressed it."""
        try:
            return await load_organisation(info, self._model.organisation_id)  # type: ignore[union-attr]
        except LookupError:
            addressed = await _scope.addressed_organisation(self._model)
            return OrganisationType.of(addressed, full=False)

    @strawberry.field(
        description="Whether the caller may withdraw this batch: it waits for confirmation and the "
        "caller's organisation (or one above it) sent it."
    )
    async def can_withdraw(self, info: Info) -> bool:
        actor = info.context.require_actor()
        if self._model.state != "PENDING_CONFIRMATION" or not actor.has(Permission.MANAGE_BATCHES):
            return False
        sender = await info.context.organisation_loader().load(self._model.sender_id)  # type: ignore[union-attr]
        return sender is not None and sender[1]  # seen in full: the caller's subtree

    @strawberry.field
    async def devices(self, info: Info, first: int | None = 50, after: str | None = None) -> Connection[DeviceObject]:
        page = await batches.batch_devices(info.context.require_actor(), self._model, first=first, after=after)
        return Connection.of(page, await preload_page(info, page.nodes))


async def load_batch(info: Info, batch_id: Any) -> BatchReferenceType | None:
    """One query for all the batches of a page (a DataLoader per request)."""
    loaders = info.context.loaders
    if "batch" not in loaders:
        actor = info.context.require_actor()

        async def load(ids: list[Any]) -> list[BatchReference | BatchRow | None]:
            return await batches.visible_batches(actor, ids)

        loaders["batch"] = DataLoader(load_fn=load)
    found = await loaders["batch"].load(batch_id)
    return BatchReferenceType.of(found) if found else None


@strawberry.type
class BatchResult:
    batch_reference: BatchReferenceType
    refused: list[RefusedDevice]


@strawberry.type
class OwnershipResult:
    batch_reference: BatchReferenceType
    device_count: int


@strawberry.input
class CreateBatchReferenceInput:
    reference: str
    organisation_id: strawberry.ID
    serial_numbers: list[str] | None = None
    file: Upload | None = strawberry.field(
        default=None, description="A .txt or .csv file of comma separated serial numbers."
    )
    requires_confirmation: bool | None = False
    label: str | None = None


async def _serials(input: CreateBatchReferenceInput) -> list[str]:
    serials = [s for value in input.serial_numbers or [] for s in batches.parse_serials(value)]
    if input.file is not None:
        upload = cast(UploadFile, input.file)  # Starlette hands uploads over as UploadFile
        content = await upload.read(batches.MAX_UPLOAD_BYTES + 1)
        serials += batches.read_upload(upload.filename or "", content)
    return list(dict.fromkeys(serials))


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(Permission.READ_CATALOG))
    async def batch_reference(self, info: Info, id: strawberry.ID) -> BatchReferenceType | None:
        found = await batches.visible_batch(info.context.require_actor(), id)
        if found is None:
            raise NotFound("Batch reference")
        return BatchReferenceType.of(found)

    @strawberry.field(extensions=requires(Permission.READ_CATALOG))
    async def batch_references(
        self,
        info: Info,
        reference: str | None = None,
        first: int | None = 50,
        after: str | None = None,
        state: BatchState | None = None,
        organisation_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only batches addressed to this organisation.")
        ] = None,
        label: Annotated[str | None, strawberry.argument(description="Part of the batch's label.")] = None,
    ) -> Connection[BatchReferenceType]:
        page = await batches.list_batches(
            info.context.require_actor(),
            batches.BatchFilter(
                reference=reference,
                state=state.value if state else None,
                organisation_id=organisation_id,
                label=label,
            ),
            first=first,
            after=after,
        )
        return Connection.of(page, [BatchReferenceType.of(b) for b in page.nodes])


@strawberry.type
class Mutation:
    @strawberry.mutation(extensions=requires(Permission.MANAGE_BATCHES))
    async def create_batch_reference(self, info: Info, input: CreateBatchReferenceInput) -> BatchResult:
        new = batches.NewBatch(
            input.reference,
            await _serials(input),
            str(input.organisation_id),
            bool(input.requires_confirmation),
            input.label,
        )
        batch = await batches.create_batch(info.context.require_actor(), new, info.context.settings)
        return BatchResult(batch_reference=BatchReferenceType.of(batch), refused=[])

    @strawberry.mutation(extensions=requires(Permission.MANAGE_BATCHES))
    async def create_batch_from_selection(
        self,
        info: Info,
        reference: str,
        device_ids: list[strawberry.ID],
        organisation_id: strawberry.ID,
        requires_confirmation: bool | None = False,
        label: str | None = None,
    ) -> BatchResult:
        new = batches.NewBatch(reference, [], str(organisation_id), bool(requires_confirmation), label)
        batch = await batches.create_batch_from_selection(
            info.context.require_actor(), [str(i) for i in device_ids], new, info.context.settings
        )
        return BatchResult(batch_reference=BatchReferenceType.of(batch), refused=[])

    @strawberry.mutation(extensions=requires(Permission.MANAGE_BATCHES))
    async def withdraw_batch_reference(self, info: Info, id: strawberry.ID) -> BatchReferenceType:
        return BatchReferenceType.of(await batches.withdraw_batch(info.context.require_actor(), str(id)))

    @strawberry.mutation(extensions=requires(Permission.CLAIM_DEVICES))
    async def take_ownership(self, info: Info, batch_reference: str, label: str | None = None) -> OwnershipResult:
        batch = await batches.take_ownership(info.context.require_actor(), batch_reference, label)
        return OwnershipResult(batch_reference=BatchReferenceType.of(batch), device_count=batch.device_count)
