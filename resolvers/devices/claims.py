"""Claiming devices: each device once, however many claims race; refusals explained."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from tortoise import connections
from tortoise.transactions import in_transaction

from models import db
from resolvers import _scope, audit
from resolvers.actor import Actor
from resolvers.devices.common import _CHUNK, MAX_IMPORT_ROWS, DeviceRow, Refused, uuid_texts
from resolvers.errors import BadInput


@dataclass(frozen=True)
class ClaimResult:
    """The ids this claim marked CLAIMED, in serial-number order (the devices themselves are loaded only when
    a caller asks for them: a claim of 100,000 answers with a count), and the refused devices with reasons."""

    claimed_ids: list[UUID]
    refused: list[Refused]


async def claim_devices(actor: Actor, device_ids: Sequence[str]) -> ClaimResult:
    """Mark the caller's organisation's devices CLAIMED. One guarded UPDATE per chunk claims each device
    once, however many claims race; the devices it did not claim are then explained one by one."""
    ids = uuid_texts(device_ids, "deviceIds")
    if len(ids) > MAX_IMPORT_ROWS:
        raise BadInput("deviceIds", f"At most {MAX_IMPORT_ROWS} devices at once.")
    claimed: list[tuple[str, UUID]] = []
    refused: list[Refused] = []
    now = datetime.now(UTC)
    async with in_transaction():
        # PostgreSQL takes the whole list as one array parameter; SQLite binds one variable per id.
        step = max(len(ids), 1) if db.dialect() == "postgres" else _CHUNK * 5
        for start in range(0, len(ids), step):
            chunk = ids[start : start + step]
            won = await _claim_chunk(chunk, actor.organisation_id, now)
            claimed += won
            if len(won) < len(chunk):  # the ids are distinct: a claim that won them all refused none
                won_ids = {str(device_id) for _, device_id in won}
                refused += await _why_not(actor, [UUID(i) for i in chunk if i not in won_ids])
        claimed.sort()
        if claimed:
            await audit.record(
                "devices.claimed",
                actor,
                target=f"organisation:{actor.organisation_id}",
                details={"count": len(claimed), "serialNumbers": [serial for serial, _ in claimed[:1000]]},
            )
    return ClaimResult([device_id for _, device_id in claimed], refused)


async def devices_by_ids(actor: Actor, ids: Sequence[UUID]) -> list[DeviceRow]:
    """The caller's devices with these ids, in serial-number order (ids it may not see are left out)."""
    if db.dialect() == "postgres":  # one statement with an array parameter; records straight into rows
        scope, bounds = _scope.devices_sql(actor, 2)
        sql = (
            "SELECT id, serial_number, device_type, owner_id, claim_status, claimed_at, created_at, batch_id "  # noqa: S608
            f"FROM devices WHERE id = ANY($1::uuid[]) AND {scope} ORDER BY serial_number"
        )
        return [DeviceRow(*r) for r in await db.pg_fetch(sql, list(ids), *bounds)]
    rows: list[DeviceRow] = []
    for start in range(0, len(ids), _CHUNK):
        for values in await (
            _scope.devices(actor)
            .filter(id__in=ids[start : start + _CHUNK])
            .values_list(
                "id", "serial_number", "device_type", "owner_id", "claim_status", "claimed_at", "created_at", "batch_id"
            )
        ):
            rows.append(DeviceRow(*values))
    return sorted(rows, key=lambda d: d.serial_number)


async def _why_not(actor: Actor, ids: list[UUID]) -> list[Refused]:
    refused = []
    seen: set[UUID] = set()
    for start in range(0, len(ids), _CHUNK):
        rows = (
            await _scope.devices(actor)
            .filter(id__in=ids[start : start + _CHUNK])
            .values_list("id", "serial_number", "owner_id")
        )
        for device_id, serial, owner_id in rows:
            seen.add(device_id)
            reason = (
                "DEVICE_NOT_OWNED" if owner_id != actor.organisation_id else "CONFLICT"
            )  # CONFLICT: claimed already
            refused.append(Refused(str(serial), reason))
    return refused + [Refused(str(i), "DEVICE_NOT_FOUND") for i in ids if i not in seen]


async def _claim_chunk(ids: list[str], owner_id: UUID, now: datetime) -> list[tuple[str, UUID]]:
    """Claim the still-UNCLAIMED devices of ``ids`` that ``owner_id`` owns; returns the (serial number, id)
    of those this statement claimed."""
    if not ids:
        return []
    guard = "owner_id = {owner} AND claim_status = 'UNCLAIMED'"
    returning = "RETURNING serial_number, id"
    if db.dialect() == "postgres":
        sql = (
            f"UPDATE devices SET claim_status = 'CLAIMED', claimed_at = $1 WHERE id = ANY($2::uuid[]) AND "  # noqa: S608
            f"{guard.format(owner='$3')} {returning}"
        )
        return [(r[0], r[1]) for r in await db.pg_fetch(sql, now, ids, owner_id)]
    marks = ", ".join("?" for _ in ids)
    sql = (
        f"UPDATE devices SET claim_status = 'CLAIMED', claimed_at = ? WHERE id IN ({marks}) AND "  # noqa: S608
        f"{guard.format(owner='?')} {returning}"
    )
    values = [now, *ids, str(owner_id)]
    rows = await connections.get("default").execute_query_dict(sql, values)
    return [(r["serial_number"], UUID(str(r["id"]))) for r in rows]
