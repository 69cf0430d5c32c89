"""Per-request context: the caller (loaded once, before any field runs), settings and loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from strawberry.dataloader import DataLoader

from models.db import Lease
from resolvers import organisations
from resolvers.actor import Actor
from resolvers.auth import SessionPolicy, policy_from
from settings import Settings


@dataclass
class Context:
    request: Request
    response: Response
    settings: Settings
    actor: Actor | None
    request_id: str
    loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)
    # The session lookup's connection, kept for a catalog page (models.db.Lease); None when released.
    lease: Lease | None = None

    def take_lease(self) -> Lease | None:
        """The request's leased connection for the one statement group that may use it (its taker releases
        it), or None."""
        lease, self.lease = self.lease, None  # get_context sets it only with a connection
        return lease

    @property
    def client_address(self) -> str | None:
        return self.request.client.host if self.request.client else None

    @property
    def session_policy(self) -> SessionPolicy:
        return policy_from(self.settings)

    def require_actor(self) -> Actor:
        """The caller; the field's permission extension has already refused anonymous calls."""
        assert self.actor is not None, "field lacks an authentication permission"
        return self.actor

    def organisation_loader(self) -> DataLoader[UUID, Any]:
        if "organisation" not in self.loaders:
            actor = self.require_actor()

            async def load(ids: list[UUID]) -> list[Any]:
                return await organisations.by_ids(actor, ids)

            self.loaders["organisation"] = DataLoader(load_fn=load)
        return self.loaders["organisation"]
