"""The hash-chained audit log: appending events and verifying the chain."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from models import db
from models.audit import AuditEvent
from resolvers import _scope
from resolvers.actor import Actor
from resolvers.pagination import Page, paginate

GENESIS = "0" * 64
_FORBIDDEN_DETAIL_KEYS = {"password", "token", "key", "secret", "plaintext", "signupLink", "link"}


def _canonical(event: AuditEvent) -> bytes:
    at = event.at.astimezone(UTC).isoformat(timespec="microseconds")
    body = {
        "seq": event.seq,
        "id": str(event.id),
        "at": at,
        "action": event.action,
        "actor": event.actor,
        "actorUserId": str(event.actor_user_id) if event.actor_user_id else None,
        "organisationId": str(event.organisation_id) if event.organisation_id else None,  # type: ignore[attr-defined]
        "organisationPath": event.organisation_path,
        "target": event.target,
        "details": event.details,
        "prevHash": event.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def _check_details(details: dict[str, Any]) -> str:
    leaked = _FORBIDDEN_DETAIL_KEYS.intersection(details)
    if leaked:  # a programming error: audit details never hold secrets
        raise ValueError(f"audit details must not contain {sorted(leaked)}")
    return json.dumps(details, sort_keys=True, separators=(",", ":"), default=str)


async def record(
    action: str,
    actor: Actor | None,
    *,
    actor_label: str | None = None,
    organisation_id: uuid.UUID | None = None,
    organisation_path: str | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Call it inside the transaction of the change it records, so both commit
    together or not at all."""
    if organisation_id is None and actor is not None:
        organisation_id, organisation_path = actor.organisation_id, actor.organisation_path
    async with in_transaction() as connection:
        if db.dialect() == "postgres":
            await connection.execute_query(f"SELECT pg_advisory_xact_lock({int(db.AdvisoryLock.AUDIT_CHAIN)})")
        last = await AuditEvent.all().order_by("-seq").only("seq", "hash").first()
        event = AuditEvent(
            seq=(last.seq + 1) if last else 1,
            id=uuid.uuid4(),
            at=datetime.now(UTC),
            action=action,
            actor=actor_label or (actor.label if actor else "anonymous"),
            actor_user_id=actor.user_id if actor else None,
            organisation_id=organisation_id,
            organisation_path=organisation_path,
            target=target,
            details=_check_details(details or {}),
            prev_hash=last.hash if last else GENESIS,
        )
        event.hash = event_hash(event)
        await event.save(force_create=True)
    return event


@dataclass(frozen=True)
class Verification:
    ok: bool
    events_checked: int
    first_broken_event_id: uuid.UUID | None


async def verify(batch_size: int = 1000) -> Verification:
    """Walk the whole chain in order and recompute every hash; the first row that does not match
    (edited, or following a deleted row) is reported."""
    expected_prev, expected_seq, checked, after = GENESIS, 1, 0, 0
    while True:
        rows = await AuditEvent.filter(seq__gt=after).order_by("seq").limit(batch_size)
        if not rows:
            return Verification(True, checked, None)
        for event in rows:
            checked += 1
            if event.seq != expected_seq or event.prev_hash != expected_prev or event.hash != event_hash(event):
                return Verification(False, checked, event.id)
            expected_prev, expected_seq = event.hash, event.seq + 1
        after = rows[-1].seq


async def list_events(actor: Actor, *, action: str | None, first: int | None, after: str | None) -> Page[AuditEvent]:
    query = _scope.audit_events(actor)
    if action:
        query = query.filter(action=action)
    return await paginate(query, ("-seq",), first=first, after=after)
