"""Batch references: serial numbers grouped and addressed to an organisation."""

from __future__ import annotations

from uuid import UUID

from models.devices import BatchReference, Device
from resolvers import _scope
from resolvers.actor import Actor
from resolvers.pagination import Page, paginate


async def visible_batch(actor: Actor, batch_id: UUID) -> BatchReference | None:
    return await _scope.batches(actor).get_or_none(id=batch_id)


async def batch_devices(actor: Actor, batch: BatchReference, *, first: int | None, after: str | None) -> Page[Device]:
    return await paginate(_scope.devices(actor).filter(batch_id=batch.id), ("serial_number",), first=first, after=after)
