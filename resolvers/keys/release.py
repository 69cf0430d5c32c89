"""Releasing keys: only CLAIMED devices of the caller's organisation, the release and its audit event in one
transaction, the device list kept in parts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from crypto import cms, tokens
from crypto.errors import CryptoError
from models import db
from models.devices import Device
from models.keys import DeviceKey, KeyRelease, KeyReleasePart
from models.users import User
from plugins.base import KeyFormat
from plugins.registry import PluginRegistry, UnknownFormat
from resolvers import _scope, audit
from resolvers.actor import Actor
from resolvers.devices import DeviceFilter, Refused, _uuid, filtered
from resolvers.errors import BadInput, KmsError

MAX_RELEASE_IDS = 100_000
MAX_REFUSED_LISTED = 10_000
AUDIT_CHECK_VALUES = 1_000
DOWNLOAD_PREFIX = "kms_dl"
_CHUNK = 1_000
PART_SIZE = 5_000  # devices per part of a release (key_release_parts): one statement each way
_TEXT_TYPES = ("text/", "application/json", "application/x-ndjson")


@dataclass(frozen=True)
class ReleaseRequest:
    device_ids: Sequence[str] | None
    filter: DeviceFilter | None
    format_id: str
    recipient_certificate: str | None


@dataclass(frozen=True)
class ReleasePolicy:
    inline_limit: int
    ttl_seconds: int


@dataclass
class Release:
    model: KeyRelease
    key_format: KeyFormat
    refused: list[Refused]  # the first MAX_REFUSED_LISTED
    refused_count: int
    token: str


def is_text(key_format: KeyFormat, enveloped: bool) -> bool:
    return enveloped or key_format.media_type.startswith(_TEXT_TYPES)


@dataclass
class _Selection:
    """What a release will hold, gathered chunk by chunk so a million devices stay flat in memory."""

    refused: list[Refused] = field(default_factory=list)
    refused_count: int = 0
    device_count: int = 0
    key_count: int = 0
    serials: list[str] = field(default_factory=list)  # the first ones, for the audit event
    check_values: list[str] = field(default_factory=list)  # the first ones, for the audit event
    digest: Any = field(default_factory=hashlib.sha256)  # over every check value in release order
    digest_hex: str | None = None  # the same, when the database computed it

    def refuse(self, serial_number: str, reason: str) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_REFUSED_LISTED:
            self.refused.append(Refused(serial_number, reason))


Row = tuple[UUID, str]  # device id, serial number


async def _by_ids(actor: Actor, device_ids: Sequence[str], allowed: set[str], sel: _Selection) -> list[Row]:
    """The listed devices that may be released; every other one is refused with its reason."""
    if len(device_ids) > MAX_RELEASE_IDS:
        raise BadInput("deviceIds", f"At most {MAX_RELEASE_IDS} devices per release.")
    ids = list(dict.fromkeys(_uuid(i, "deviceIds") for i in device_ids))
    eligible: list[Row] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = (
            await _scope.devices(actor)
            .filter(id__in=chunk)
            .values_list("id", "serial_number", "owner_id", "claim_status", "device_type")
        )
        seen = set()
        for device_id, serial, owner_id, claim_status, device_type in rows:
            seen.add(device_id)
            if owner_id != actor.organisation_id:
                sel.refuse(serial, "DEVICE_NOT_OWNED")
            elif claim_status != "CLAIMED":
                sel.refuse(serial, "DEVICE_UNCLAIMED")
            elif device_type not in allowed:
                sel.refuse(serial, "BAD_USER_INPUT")  # the format cannot hold this device's keys
            else:
                eligible.append((device_id, serial))
        for device_id in chunk:
            if device_id not in seen:
                sel.refuse(str(device_id), "DEVICE_NOT_FOUND")
    return sorted(eligible, key=lambda row: row[1])


async def _by_filter(actor: Actor, flt: DeviceFilter, allowed: set[str], sel: _Selection) -> QuerySet[Device]:
    """ "Download all your keys": the filter within the caller's own organisation. Refusals are listed
    (up to a limit) and counted; the eligible devices are returned as a query to walk in chunks."""
    own = filtered(actor, flt).filter(owner_path=actor.organisation_path)  # the caller's own devices
    unclaimed = own.filter(claim_status="UNCLAIMED")
    unfit = own.filter(claim_status="CLAIMED").exclude(device_type__in=list(allowed))
    for query, reason in ((unclaimed, "DEVICE_UNCLAIMED"), (unfit, "BAD_USER_INPUT")):
        count = await query.count()
        for serial in (
            await query.order_by("serial_number").limit(MAX_REFUSED_LISTED).values_list("serial_number", flat=True)
        ):
            sel.refuse(str(serial), reason)
        sel.refused_count += count - min(count, MAX_REFUSED_LISTED)
    return own.filter(claim_status="CLAIMED", device_type__in=list(allowed))


async def _fit(rows: list[Row], key_format: KeyFormat, sel: _Selection) -> list[Row]:
    """The devices the format can hold: with the attributes and key algorithms it needs (most formats need
    nothing more than the radio); the others are refused before anything is written."""
    if not key_format.required_attributes and key_format.key_algorithms is None:
        return rows
    fit: list[Row] = []
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        ids = [device_id for device_id, _ in chunk]
        attributes = dict(await Device.filter(id__in=ids).values_list("id", "attributes"))
        algorithms: dict[UUID, list[str]] = {}
        for device_id, algorithm in await DeviceKey.filter(device_id__in=ids).values_list("device_id", "algorithm"):
            algorithms.setdefault(device_id, []).append(algorithm)
        for device_id, serial in chunk:
            if key_format.refuses(json.loads(attributes.get(device_id) or "{}"), algorithms.get(device_id, [])):
                sel.refuse(serial, "BAD_USER_INPUT")  # e.g. an OMS key list needs the manufacturer code
            else:
                fit.append((device_id, serial))
    return fit


async def _chunks_of(query: QuerySet[Device], key_format: KeyFormat, sel: _Selection) -> AsyncIterator[list[Row]]:
    # A QuerySet keeps the connection it was built with: rebind it to the caller's transaction (on SQLite
    # the outer connection would wait for that transaction forever).
    query = query.using_db(connections.get("default"))
    after = ""
    while True:
        rows = (
            await query.filter(serial_number__gt=after)
            .order_by("serial_number")
            .limit(PART_SIZE)
            .values_list("id", "serial_number")
        )
        if not rows:
            return
        fit = await _fit([(r[0], r[1]) for r in rows], key_format, sel)
        if fit:
            yield fit
        after = rows[-1][1]


async def _listed(rows: list[Row]) -> AsyncIterator[list[Row]]:
    for start in range(0, len(rows), PART_SIZE):
        yield rows[start : start + PART_SIZE]


async def _add_chunk(release: KeyRelease, seq: int, rows: list[Row], sel: _Selection) -> None:
    """Record one chunk of released devices as one part of the release. The check values of the first
    devices go into the audit event; on SQLite every check value is folded into the digest here (on
    PostgreSQL one statement does that for the whole release at the end, see _digest_pg)."""
    await KeyReleasePart.create(release_id=release.id, seq=seq, device_ids=",".join(str(r[0]) for r in rows))
    listed = max(0, min(len(rows), AUDIT_CHECK_VALUES - len(sel.serials)))
    postgres = db.dialect() == "postgres"
    folded = rows[:listed] if postgres else rows
    by_device: dict[UUID, list[tuple[str, str]]] = {}
    for start in range(0, len(folded), _CHUNK):
        ids = [r[0] for r in folded[start : start + _CHUNK]]
        for device_id, key_type, check_value in await DeviceKey.filter(device_id__in=ids).values_list(
            "device_id", "key_type", "check_value"
        ):
            by_device.setdefault(device_id, []).append((key_type, check_value))
    sel.device_count += len(rows)
    for index, (device_id, serial) in enumerate(folded):
        values = [kcv for _, kcv in sorted(by_device.get(device_id, []))]
        if index < listed:
            sel.serials.append(serial)
            sel.check_values += values
        if not postgres:
            sel.key_count += len(values)
            for value in values:
                sel.digest.update(value.encode() + b"\n")


# Every check value of a release in file order (part, position, key slot), hashed, and the number of keys:
# the same digest _add_chunk folds on SQLite, computed where the rows are.
_DIGEST_PG = """
SELECT encode(sha256(convert_to(coalesce(string_agg(k.check_value || E'\\n', '' ORDER BY p.seq, part.position,
    k.key_type), ''), 'UTF8')), 'hex'), count(k.check_value)
FROM key_release_parts p
CROSS JOIN LATERAL unnest(string_to_array(p.device_ids, ',')::uuid[]) WITH ORDINALITY AS part(id, position)
JOIN device_keys k ON k.device_id = part.id
WHERE p.release_id = $1
"""


async def _digest_pg(release: KeyRelease, sel: _Selection) -> None:
    digest, key_count = (await db.pg_fetch(_DIGEST_PG, release.id))[0]
    sel.digest_hex, sel.key_count = str(digest), int(key_count)


async def release_keys(
    actor: Actor,
    request: ReleaseRequest,
    user: User,
    *,
    registry: PluginRegistry,
    policy: ReleasePolicy,
) -> Release:
    """Hand out the keys of CLAIMED devices of the caller's organisation. The release and its audit event
    commit together: if the audit cannot be written, nothing is released."""
    try:
        key_format = registry.format(request.format_id)
    except UnknownFormat:
        raise BadInput("format", f"Unknown key format {request.format_id!r}.") from None
    subject = None
    if request.recipient_certificate:
        try:
            subject = cms.subject_of(request.recipient_certificate)
        except CryptoError as exc:
            raise BadInput("recipientCertificate", str(exc)) from None
    allowed = {t.id for t in registry.device_types() if t.radio in key_format.radios}
    sel = _Selection()
    query = None
    if request.device_ids is None:
        query = await _by_filter(actor, request.filter or DeviceFilter(), allowed, sel)
        if not await query.exists():
            raise _nothing_to_release(sel)
    token, digest = tokens.new_token(DOWNLOAD_PREFIX)
    now = await db.clock()  # hosts whose clocks differ agree on the link's expiry (claim_download)
    extension = key_format.file_extension + (".p7m" if subject else "")
    async with in_transaction():
        if db.dialect() == "postgres":
            # The chunk statement runs once per 5,000 devices: after five runs PostgreSQL would switch to a
            # generic plan that sorts the whole organisation for every chunk (76 ms instead of 3 ms).
            await db.pg_fetch("SET LOCAL plan_cache_mode = force_custom_plan")
        release = await KeyRelease.create(
            organisation_id=actor.organisation_id,
            user_id=actor.user_id,
            format=key_format.id,
            filename="",
            device_count=0,
            key_count=0,
            recipient_certificate=request.recipient_certificate,
            csv_delimiter=user.csv_delimiter,
            csv_thousands_separator=user.csv_thousands_separator,
            token_digest=digest,
            expires_at=now + timedelta(seconds=policy.ttl_seconds),
        )
        # The devices are chosen inside the transaction, each part by the statement that reads it: a device
        # moved away or unclaimed before that statement is refused, and one moved after it was released first.
        if query is None:
            assert request.device_ids is not None
            chunks = _listed(await _fit(await _by_ids(actor, request.device_ids, allowed, sel), key_format, sel))
        else:
            chunks = _chunks_of(query, key_format, sel)
        seq = 0
        async for rows in chunks:
            await _add_chunk(release, seq, rows, sel)
            seq += 1
        if not sel.device_count:  # the walk refused every device the filter found: nothing is recorded
            raise _nothing_to_release(sel)
        if db.dialect() == "postgres":
            await _digest_pg(release, sel)
        release.device_count, release.key_count = sel.device_count, sel.key_count
        release.filename = f"keys-{now:%Y%m%d-%H%M%S}-{sel.device_count}.{extension}"
        await release.save(update_fields=["device_count", "key_count", "filename"])
        await audit.record(
            "keys.released", actor, target=f"release:{release.id}", details=_audit_details(release, sel, actor, subject)
        )
    return Release(release, key_format, sel.refused, sel.refused_count, token)


def _nothing_to_release(sel: _Selection) -> KmsError:
    return KmsError(
        "No key can be released: every device was refused.",
        code="NOTHING_TO_RELEASE",
        refused=[{"serialNumber": r.serial_number, "reason": r.reason} for r in sel.refused[:1000]],
        refusedCount=sel.refused_count,
    )


def _audit_details(release: KeyRelease, sel: _Selection, actor: Actor, subject: str | None) -> dict[str, object]:
    details: dict[str, object] = {
        "format": release.format,
        "deviceCount": sel.device_count,
        "keyCount": sel.key_count,
        "refusedCount": sel.refused_count,
        "clientAddress": actor.client_address,
        "serialNumbers": sel.serials,
        "checkValues": sel.check_values,
        # Every check value in release order, hashed: a large release stays verifiable without a huge row.
        "checkValuesSha256": sel.digest_hex or sel.digest.hexdigest(),
    }
    if subject:
        details["recipient"] = subject
    return details
