"""Batch references: serial numbers grouped and addressed to an organisation, and taking ownership."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable, Collection, Container, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import db
from models.devices import BatchReference, Device, DeviceLabel
from models.organisations import Organisation
from models.users import User
from resolvers import _scope, audit, outbox, ratelimit
from resolvers.actor import Actor
from resolvers.devices import BATCH_COLUMNS, LABEL, BatchRow, Fetch, _uuid
from resolvers.errors import KEY_LIKE, BadInput, Forbidden, KmsError, NotFound, duplicate_of
from resolvers.pagination import Page, paginate
from settings import Settings

MAX_BATCH_SERIALS = 100_000
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
_CHUNK = 1_000
_SEPARATORS = re.compile(r"[,;\s]+")
_REFERENCE = re.compile(r"^[\w][\w .:/#-]{0,99}$")
_HEADER_NAMES = {"serial", "serialnumber", "serial_number", "serial number", "serial-number", "sn"}
# takeOwnership is a claim code check: failed attempts per user and per organisation are limited.
TAKE_LIMIT_USER, TAKE_LIMIT_ORGANISATION, TAKE_WINDOW = 10, 30, 900


@dataclass(frozen=True)
class NewBatch:
    reference: str
    serial_numbers: Sequence[str]
    organisation_id: str
    requires_confirmation: bool = False
    label: str | None = None


def parse_serials(text: str) -> list[str]:
    """Serial numbers typed or pasted: comma, semicolon, whitespace or newline separated; duplicates dropped."""
    return list(dict.fromkeys(s for s in _SEPARATORS.split(text) if s))


def read_upload(filename: str, content: bytes) -> list[str]:
    """Serial numbers of an uploaded .txt or .csv file (UTF-8, with or without BOM)."""
    name = (filename or "").lower()
    if not name.endswith((".txt", ".csv")):
        raise KmsError("Upload a .txt or .csv file.", code="FILE_UNSUPPORTED")
    if len(content) > MAX_UPLOAD_BYTES:
        raise KmsError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.", code="FILE_TOO_LARGE")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KmsError("The file is not UTF-8 text.", code="FILE_UNSUPPORTED") from None
    if "\x00" in text:
        raise KmsError("The file is not a text file.", code="FILE_UNSUPPORTED")
    if name.endswith(".csv"):
        rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), _dialect(text))]
        rows = [row for row in rows if any(row)]
        if rows and rows[0] and rows[0][0].lower() in _HEADER_NAMES:
            rows = rows[1:]  # a header line such as "serial_number"
        return list(dict.fromkeys(cell for row in rows for cell in row if cell))
    return parse_serials(text)


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _reference(value: str) -> str:
    value = value.strip()
    if not _REFERENCE.match(value):
        raise BadInput("reference", "A batch reference has 1-100 letters, digits, spaces or . : / # - _.")
    return value


def _label(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not LABEL.match(value):
        raise BadInput("label", "A label has 1-100 characters without line breaks.")
    return value


async def addressable(actor: Actor, organisation_id: str) -> Organisation:
    """An organisation the caller may address a batch to: itself, one below it, or a partner."""
    try:
        return await _scope.organisation(actor, organisation_id)
    except KmsError:
        org, _full = await _scope.visible_organisation(actor, organisation_id)
        return org


async def _devices_for(actor: Actor, serials: Sequence[str]) -> list[tuple[UUID, str]]:
    """The caller's devices with these serial numbers; all must exist and none may wait in a batch for
    another organisation to take ownership, or nothing happens."""
    found: dict[str, UUID] = {}
    waiting: list[str] = []
    for start in range(0, len(serials), _CHUNK):
        chunk = list(serials[start : start + _CHUNK])
        for device_id, serial, pending_batch in (
            await _scope.devices(actor)
            .filter(serial_number__in=chunk)
            .values_list("id", "serial_number", "pending_batch_id")
        ):
            found[str(serial)] = device_id
            if pending_batch is not None:
                waiting.append(str(serial))
    _refuse_unknown(serials, found)
    _refuse_waiting(serials, waiting)
    return [(found[s], s) for s in serials]


async def _refuse(actor: Actor, serials: Sequence[str], assigned: Container[str]) -> None:
    """Explain why the assignment statement left some serial numbers out: unknown to the caller, or
    waiting in a batch for another organisation to take ownership."""
    missing = [s for s in serials if s not in assigned]
    await _devices_for(actor, missing)
    # both checks passed: the devices changed between the statement and this look (a concurrent batch won)
    raise KmsError("Some devices changed at the same time; nothing was changed. Please try again.", code="CONFLICT")


def _refuse_unknown(serials: Sequence[str], found: Container[str]) -> None:
    unknown = [s for s in serials if s not in found]
    if unknown:
        raise KmsError(
            f"{len(unknown)} serial number{'' if len(unknown) == 1 else 's'} unknown to you; nothing was changed.",
            code="DEVICE_NOT_FOUND",
            serialNumbers=unknown[:1000],
            refusedCount=len(unknown),
        )


def _refuse_waiting(serials: Sequence[str], waiting: Collection[str]) -> None:
    """Devices of a batch that waits for confirmation stay put until its organisation takes ownership."""
    if waiting:
        listed = set(waiting)
        raise KmsError(
            f"{len(listed)} devices wait in a batch for another organisation to take ownership; nothing was changed.",
            code=BadInput.code,
            field="serialNumbers",
            reason="BATCH_PENDING",
            serialNumbers=[s for s in serials if s in listed][:1000],
            refusedCount=len(listed),
        )


# What putting devices in a batch changes: a pending batch only records them as waiting in it (they keep the
# batch they arrived in), an accepted one also moves them to its organisation ($2, $3 its id and path),
# UNCLAIMED for their new owner.
PENDING = "PENDING_CONFIRMATION"
WITHDRAWN = "WITHDRAWN"
PENDING_SETS = "pending_batch_id = $2"
# devices that wait in a batch for confirmation are not the sender's to put in another batch
NOT_WAITING = "pending_batch_id IS NULL"
# A batch to the organisation that owns a device already is no transfer: its claim stays.
TRANSFER_SETS = (
    "owner_id = $2, owner_path = $3, batch_id = $4, pending_batch_id = NULL, "
    "claim_status = CASE WHEN owner_id = $2 THEN claim_status ELSE 'UNCLAIMED' END, "
    "claimed_at = CASE WHEN owner_id = $2 THEN claimed_at END"
)


def assignment_sql(pending: bool, scope: str) -> str:
    """The statement that finds the devices with the serial numbers $1 within ``scope`` (a condition from
    _scope.devices_sql, its parameters after the SETS') as it assigns them; bench/batch_anatomy.py runs it too."""
    sets = PENDING_SETS if pending else TRANSFER_SETS
    return (
        f"UPDATE devices SET {sets} WHERE serial_number = ANY($1::text[]) AND {NOT_WAITING} AND {scope} "  # noqa: S608
        "RETURNING id, serial_number"
    )


async def _assign_pg(
    actor: Actor, serials: list[str], batch: BatchReference, target: Organisation, label: str | None
) -> None:
    """PostgreSQL: put the caller's devices with these serial numbers in the batch (and, without
    confirmation, move them to the target) with one statement that finds them by serial number as it
    updates them; any serial it did not find refuses the whole batch (the caller's transaction rolls back)."""
    pending = batch.requires_confirmation  # the devices then wait in the batch for the target to take ownership
    values: list[Any] = [batch.id] if pending else [target.id, target.path, batch.id]
    scope, bounds = _scope.devices_sql(actor, 2 + len(values))
    rows = await db.pg_fetch(assignment_sql(pending, scope), serials, *values, *bounds)
    if len(rows) != len(serials):
        await _refuse(actor, serials, {r[1] for r in rows})
    if not pending:
        await _relabel([r[0] for r in rows], actor.organisation_path, target, label)


async def _relabel(ids: list[UUID], sender_path: str, target: Organisation, label: str | None) -> None:
    """After a transfer: devices that leave the sending organisation's subtree leave its labels behind (they
    are its own notes, "customer Meier", not the new owner's business); then the batch's label is added."""
    if not target.path.startswith(sender_path):
        if db.dialect() == "postgres":
            await db.pg_fetch("DELETE FROM device_labels WHERE device_id = ANY($1::uuid[])", ids)
        else:
            for start in range(0, len(ids), _CHUNK):
                await DeviceLabel.filter(device_id__in=ids[start : start + _CHUNK]).delete()
    if not label:
        return
    if db.dialect() == "postgres":
        await _label_pg(ids, label)
        return
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        existing = set(await DeviceLabel.filter(device_id__in=chunk, label=label).values_list("device_id", flat=True))
        await DeviceLabel.bulk_create(
            [DeviceLabel(device_id=i, label=label) for i in chunk if i not in existing], batch_size=_CHUNK
        )


async def _label_pg(ids: list[UUID], label: str) -> None:
    await db.pg_fetch(
        "INSERT INTO device_labels (id, created_at, device_id, label) "
        "SELECT gen_random_uuid(), $3, device_id, $2 FROM unnest($1::uuid[]) AS device_id "
        "ON CONFLICT (device_id, label) DO NOTHING",
        ids,
        label,
        datetime.now(UTC),
    )


async def _assign_not_waiting(actor: Actor, ids: list[UUID], **changes: Any) -> None:
    """SQLite, in the batch's transaction: change these devices, unless one has left the caller's scope or
    waits in a batch for confirmation, then nothing (the look before the transaction may be outdated by a
    batch created meanwhile; the batch row written first holds SQLite's write lock, so nothing changes
    between this count and the update)."""
    query = _scope.devices(actor).filter(id__in=ids, pending_batch_id__isnull=True)
    if await query.count() != len(ids):  # (the update's own count would include the counting triggers' rows)
        raise KmsError("Some devices changed at the same time; nothing was changed. Please try again.", code="CONFLICT")
    await query.update(**changes)


async def _move(
    ids: list[UUID],
    target: Organisation,
    batch: BatchReference,
    label: str | None,
    sender_path: str,
    *,
    guard: Actor | None = None,
) -> None:
    """Transfer devices: the new owner sees them UNCLAIMED, with the batch's label and without the sender's
    labels if they leave its subtree (_relabel). ``guard``: the sender of a new batch, whose scope the devices
    must still be in, none of them waiting in a batch (taking ownership moves the devices of the batch being
    accepted)."""
    if db.dialect() == "postgres":  # one statement per step with an array parameter
        await db.pg_fetch(
            f"UPDATE devices SET {TRANSFER_SETS} WHERE id = ANY($1::uuid[])",  # noqa: S608 - our constant
            ids,
            target.id,
            target.path,
            batch.id,
        )
        await _relabel(ids, sender_path, target, label)
        return
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        if guard is not None:
            await _assign_not_waiting(guard, chunk, batch_id=batch.id)
        else:
            await Device.filter(id__in=chunk).update(batch_id=batch.id, pending_batch_id=None)
        # (as TRANSFER_SETS: the devices the target owns already keep their claim)
        await (
            Device.filter(id__in=chunk)
            .exclude(owner_id=target.id)
            .update(owner_id=target.id, owner_path=target.path, claim_status="UNCLAIMED", claimed_at=None)
        )
    await _relabel(ids, sender_path, target, label)


async def create_batch(actor: Actor, new: NewBatch, settings: Settings) -> BatchReference:
    """Group serial numbers under a reference addressed to an organisation, all or nothing. Without
    confirmation the devices move at once; with it, the target's admins are mailed and must take ownership."""
    reference, label = _reference(new.reference), _label(new.label)
    serials = list(dict.fromkeys(s.strip() for s in new.serial_numbers if s.strip()))
    if not serials:
        raise BadInput("serialNumbers", "Give at least one serial number.")
    if len(serials) > MAX_BATCH_SERIALS:
        raise BadInput("serialNumbers", f"At most {MAX_BATCH_SERIALS} serial numbers per batch.")
    target = await addressable(actor, new.organisation_id)
    # A partner's references are its own business (and its claim codes): whoever addresses a partner finds
    # taken references no faster than take-ownership finds batches (a free reference gives its count back).
    partner = not _scope.in_subtree(actor, target.path)
    keys = await _count_guess(actor, "partner-reference") if partner else ()
    if await BatchReference.exists(organisation_id=target.id, reference=reference):
        raise KmsError("This batch reference exists already for that organisation.", code="BATCH_REFERENCE_TAKEN")
    await _not_a_guess(keys)
    postgres = db.dialect() == "postgres"
    # SQLite: look the devices up first; PostgreSQL finds them in the statement that assigns them
    ids = [] if postgres else [i for i, _ in await _devices_for(actor, serials)]
    pending = new.requires_confirmation
    try:
        async with in_transaction() as connection:
            if postgres:
                await connection.execute_query(f"SELECT pg_advisory_xact_lock({int(db.AdvisoryLock.BATCH)})")
            batch = await BatchReference.create(
                reference=reference,
                label=label,
                organisation_id=target.id,
                sender_id=actor.organisation_id,
                requires_confirmation=pending,
                state="PENDING_CONFIRMATION" if pending else "ACCEPTED",
                device_count=len(serials),
                accepted_at=None if pending else datetime.now(UTC),
            )
            if postgres:
                await _assign_pg(actor, serials, batch, target, label)
            elif pending:
                for start in range(0, len(ids), _CHUNK):
                    await _assign_not_waiting(actor, ids[start : start + _CHUNK], pending_batch_id=batch.id)
            else:
                await _move(ids, target, batch, label, actor.organisation_path, guard=actor)
            if pending:
                await _mail_admins(actor, batch, target, settings)
            await audit.record(
                "batch.created",
                actor,
                target=f"batch:{batch.id}",
                details={
                    "reference": reference,
                    "deviceCount": len(serials),
                    "organisationId": str(target.id),
                    "requiresConfirmation": pending,
                    "serialNumbers": serials[:1000],
                },
            )
    except IntegrityError as exc:
        if not duplicate_of(exc, "batch_references", "organisation_id", "reference"):
            raise
        raise KmsError(
            "This batch reference exists already for that organisation.", code="BATCH_REFERENCE_TAKEN"
        ) from None
    return batch


async def _mail_admins(actor: Actor, batch: BatchReference, target: Organisation, settings: Settings) -> None:
    sender = await Organisation.get(id=actor.organisation_id)
    admins = await User.filter(organisation_id=target.id, is_active=True, roles__contains=",OTC_ADMIN,")
    for admin in admins:
        await outbox.mail_user(
            "NEW_BATCH",
            admin,
            {
                "organisation_name": target.name,
                "batch_reference": batch.reference,
                "device_count": str(batch.device_count),
                "sender_organisation_name": sender.name,
                "action_link": f"{settings.public_url.rstrip('/')}/console/take-ownership?"
                + urlencode({"reference": batch.reference}),
            },
            settings=settings,
        )


async def create_batch_from_selection(
    actor: Actor, device_ids: Sequence[str], new: NewBatch, settings: Settings
) -> BatchReference:
    ids = list(dict.fromkeys(_uuid(i, "deviceIds") for i in device_ids))
    if len(ids) > MAX_BATCH_SERIALS:
        raise BadInput("deviceIds", f"At most {MAX_BATCH_SERIALS} devices per batch.")
    serials: list[str] = []
    if db.dialect() == "postgres":
        scope, bounds = _scope.devices_sql(actor, 2)
        sql = f"SELECT serial_number FROM devices WHERE id = ANY($1::uuid[]) AND {scope}"  # noqa: S608
        serials = [row[0] for row in await db.pg_fetch(sql, ids, *bounds)]
    else:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            serials += [
                str(s) for s in await _scope.devices(actor).filter(id__in=chunk).values_list("serial_number", flat=True)
            ]
    if len(serials) != len(ids):
        raise KmsError(
            "Some devices are unknown to you; nothing was changed.",
            code="DEVICE_NOT_FOUND",
            refusedCount=len(ids) - len(serials),
        )
    return await create_batch(
        actor, NewBatch(new.reference, serials, new.organisation_id, new.requires_confirmation, new.label), settings
    )


async def take_ownership(actor: Actor, reference: str, label: str | None) -> BatchReference:
    """Accept a batch addressed to the caller's organisation by typing its reference."""
    label = _label(label)

    async def first_refusal() -> None:  # the first refusal of a window is audited, not each one after it
        await _take_refused(actor, reference, "RATE_LIMITED")

    keys = await _count_guess(actor, "take-ownership", on_first_refusal=first_refusal)
    batch = await BatchReference.get_or_none(
        organisation_id=actor.organisation_id, reference=reference.strip(), state="PENDING_CONFIRMATION"
    )
    if batch is None:  # the same answer whether the reference exists elsewhere or not
        await _take_refused(actor, reference, "BATCH_NOT_FOUND")
        raise KmsError("No batch with this reference is waiting for your organisation.", code="BATCH_NOT_FOUND")
    await _not_a_guess(keys)
    target = await Organisation.get(id=actor.organisation_id)
    async with in_transaction():
        # Only the first of two concurrent takes wins the state change.
        won = await BatchReference.filter(id=batch.id, state="PENDING_CONFIRMATION").update(
            state="ACCEPTED", accepted_at=datetime.now(UTC), label=label or batch.label
        )
        if won != 1:
            raise KmsError("No batch with this reference is waiting for your organisation.", code="BATCH_NOT_FOUND")
        # Every device still waiting in the batch: nothing else may move it or put it in another batch
        # (NOT_WAITING), and a withdrawal takes it out.
        ids = list(await Device.filter(pending_batch_id=batch.id).values_list("id", flat=True))
        sender = await Organisation.get(id=batch.sender_id)  # type: ignore[attr-defined]
        await _move([UUID(str(i)) for i in ids], target, batch, label or batch.label, sender.path)
        await BatchReference.filter(id=batch.id).update(device_count=len(ids))
        details = {"reference": batch.reference, "deviceCount": len(ids), "label": label or batch.label}
        await audit.record("batch.accepted", actor, target=f"batch:{batch.id}", details=details)
        if not _scope.in_subtree(actor, sender.path):  # the sender's administrators see the acceptance too
            await audit.record(
                "batch.accepted",
                actor,
                organisation_id=sender.id,
                organisation_path=sender.path,
                target=f"batch:{batch.id}",
                details=details,
            )
    return await BatchReference.get(id=batch.id)


async def _count_guess(
    actor: Actor, kind: str, *, on_first_refusal: Callable[[], Awaitable[None]] | None = None
) -> tuple[str, ...]:
    """Count an attempt that could be a guess of a batch reference, per user and per organisation, before the
    reference is looked up (so parallel guesses cannot all pass the limit); RATE_LIMITED past the limit. An
    attempt that turns out not to be a guess gives its counts back (``_not_a_guess``)."""
    keys = (f"{kind}-user:{actor.user_id}", f"{kind}-org:{actor.organisation_id}")
    for key, limit in zip(keys, (TAKE_LIMIT_USER, TAKE_LIMIT_ORGANISATION), strict=True):
        window = await ratelimit.hit(key, TAKE_WINDOW)
        if window.count > limit:
            if window.count == limit + 1 and on_first_refusal is not None:
                await on_first_refusal()
            raise KmsError(
                "Too many batch references tried. Please wait.", code="RATE_LIMITED", retryAfter=window.retry_after
            )
    return keys


async def _not_a_guess(keys: Sequence[str]) -> None:
    for key in keys:
        await ratelimit.give_back(key)


async def _take_refused(actor: Actor, reference: str, reason: str) -> None:
    """A take-ownership attempt that found no batch: references work like claim codes, so guesses leave a
    trace in the caller's organisation: what was typed, cut to a reference's length, unless it looks like
    key material pasted into the wrong field (audit details never hold keys)."""
    typed = reference.strip()[:100]
    details = {"reference": "(withheld: it looks like a key)" if KEY_LIKE.search(typed) else typed, "reason": reason}
    await audit.record("batch.take_refused", actor, details=details)


_BATCH_COLUMNS = ", ".join(f"b.{name}" for name in BATCH_COLUMNS)


async def visible_batches(
    actor: Actor, batch_ids: list[UUID], *, fetch: Fetch | None = None
) -> list[BatchReference | BatchRow | None]:
    """Batch load for DataLoaders: each id's batch if the caller may see it. On PostgreSQL one hand-written
    statement with an array parameter (scope from _scope.batches_sql)."""
    if not batch_ids:
        return []
    if db.dialect() == "postgres":
        scope, bounds = _scope.batches_sql(actor, 2, "b")
        sql = f"SELECT {_BATCH_COLUMNS} FROM batch_references b WHERE b.id = ANY($1::uuid[]) AND {scope}"  # noqa: S608
        rows = await (fetch or db.pg_fetch)(sql, batch_ids, *bounds)
        found: dict[UUID, BatchReference | BatchRow] = {r[0]: BatchRow(*r) for r in rows}
    else:
        found = {b.id: b for b in await _scope.batches(actor).filter(id__in=batch_ids)}
    return [found.get(i) for i in batch_ids]


async def withdraw_batch(actor: Actor, batch_id: str) -> BatchReference:
    """Withdraw a batch that waits for confirmation (sent to the wrong organisation, say): it becomes WITHDRAWN,
    its reference can no longer be taken, and its devices stay with their owner, free for another batch."""
    batch = await visible_batch(actor, batch_id)
    if batch is None:
        raise NotFound("Batch reference")
    if not await _scope.sent_batches(actor).filter(id=batch.id).exists():
        raise Forbidden("Only the organisation that sent a batch can withdraw it.")
    async with in_transaction():
        # Only one of a withdrawal and a take-ownership running at once wins the state change.
        if not await BatchReference.filter(id=batch.id, state=PENDING).update(state=WITHDRAWN):
            raise KmsError("This batch is no longer waiting for confirmation.", code="CONFLICT")
        # its devices stop waiting and keep the batch they arrived in
        if db.dialect() == "postgres":
            rows = await db.pg_fetch(
                "UPDATE devices SET pending_batch_id = NULL WHERE pending_batch_id = $1 RETURNING id", batch.id
            )
            freed = len(rows)
        else:
            freed = await Device.filter(pending_batch_id=batch.id).count()
            await Device.filter(pending_batch_id=batch.id).update(pending_batch_id=None)
        await audit.record(
            "batch.withdrawn",
            actor,
            target=f"batch:{batch.id}",
            details={"reference": batch.reference, "deviceCount": freed},
        )
    return await BatchReference.get(id=batch.id)


async def visible_batch(actor: Actor, batch_id: UUID | str) -> BatchReference | None:
    try:
        return await _scope.batches(actor).get_or_none(id=_uuid(str(batch_id), "id"))
    except BadInput:
        return None


@dataclass(frozen=True)
class BatchFilter:
    """The batch reference list's filters (manual 10.6), combined: part of the reference or of the label, the
    state, and the organisation a batch is addressed to."""

    reference: str | None = None
    state: str | None = None
    organisation_id: str | None = None
    label: str | None = None


async def list_batches(
    actor: Actor, where: BatchFilter, *, first: int | None, after: str | None
) -> Page[BatchReference]:
    query = _scope.batches(actor)
    if where.reference and where.reference.strip():
        query = query.filter(reference__icontains=where.reference.strip())
    if where.label and where.label.strip():
        query = query.filter(label__icontains=where.label.strip())
    if where.state:
        query = query.filter(state=where.state)
    if where.organisation_id:
        query = query.filter(organisation_id=_uuid(where.organisation_id, "organisationId"))
    return await paginate(query, ("-created_at", "id"), first=first, after=after)


async def batch_devices(
    actor: Actor, batch: BatchReference | BatchRow, *, first: int | None, after: str | None
) -> Page[Device]:
    """The devices in a batch: those waiting in it while it waits for confirmation, then those it moved."""
    member = {"pending_batch_id": batch.id} if batch.state == PENDING else {"batch_id": batch.id}
    return await paginate(_scope.devices(actor).filter(**member), ("serial_number",), first=first, after=after)
