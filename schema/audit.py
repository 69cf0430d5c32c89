"""GraphQL of the audit log."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from models.audit import AuditEvent
from resolvers import audit
from resolvers.roles import Permission
from schema.common import Connection
from schema.organisations import OrganisationType
from schema.permissions import requires


@strawberry.type(name="AuditEvent")
class AuditEventType:
    id: strawberry.ID
    at: datetime
    action: str
    actor: str
    target: str | None
    details: str
    _model: strawberry.Private[AuditEvent]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventType:
        return cls(
            id=strawberry.ID(str(event.id)),
            at=event.at,
            action=event.action,
            actor=event.actor,
            target=event.target,
            details=event.details,
            _model=event,
        )

    @strawberry.field
    async def organisation(self, info: Info) -> OrganisationType | None:
        org_id = self._model.organisation_id  # type: ignore[attr-defined]
        found = await info.context.organisation_loader().load(org_id) if org_id else None
        return OrganisationType.of(*found) if found else None


@strawberry.type
class AuditVerification:
    ok: bool
    events_checked: int
    first_broken_event_id: strawberry.ID | None


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(Permission.READ_AUDIT))
    async def audit_events(
        self, info: Info, action: str | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[AuditEventType]:
        page = await audit.list_events(info.context.require_actor(), action=action, first=first, after=after)
        return Connection.of(page, [AuditEventType.of(e) for e in page.nodes])

    @strawberry.field(extensions=requires(Permission.VERIFY_AUDIT))
    async def verify_audit_log(self, info: Info) -> AuditVerification:
        result = await audit.verify()
        broken = strawberry.ID(str(result.first_broken_event_id)) if result.first_broken_event_id else None
        return AuditVerification(ok=result.ok, events_checked=result.events_checked, first_broken_event_id=broken)
