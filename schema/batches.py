"""GraphQL of batch references."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from models.devices import BatchReference
from resolvers import batches
from schema.common import Connection
from schema.devices import DeviceObject
from schema.organisations import OrganisationType, load_organisation


@strawberry.enum
class BatchState(enum.Enum):
    PENDING_CONFIRMATION = "PENDING_CONFIRMATION"
    ACCEPTED = "ACCEPTED"


@strawberry.type(name="BatchReference")
class BatchReferenceType:
    id: strawberry.ID
    reference: str
    label: str | None
    requires_confirmation: bool
    state: BatchState
    device_count: int
    created_at: datetime
    _model: strawberry.Private[BatchReference]

    @classmethod
    def of(cls, b: BatchReference) -> BatchReferenceType:
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
        return await load_organisation(info, self._model.organisation_id)  # type: ignore[attr-defined]

    @strawberry.field
    async def devices(self, info: Info, first: int | None = 50, after: str | None = None) -> Connection[DeviceObject]:
        page = await batches.batch_devices(info.context.require_actor(), self._model, first=first, after=after)
        return Connection.of(page, [DeviceObject.of(d) for d in page.nodes])


async def load_batch(info: Info, batch_id: Any) -> BatchReferenceType | None:
    found = await batches.visible_batch(info.context.require_actor(), batch_id)
    return BatchReferenceType.of(found) if found else None
