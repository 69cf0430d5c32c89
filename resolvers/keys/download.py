"""The release's file: its parts read ahead, decrypted a slice at a time, written by the format's plugin and
streamed once through a single-use download link."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction

from crypto import cms, tokens
from crypto.envelope import SealedKey, open_sealed
from crypto.kcv import KeyAlgorithm
from crypto.kek import KekResolver
from models import db
from models.devices import Device
from models.keys import DeviceKey, KeyRelease, KeyReleasePart
from models.organisations import Organisation
from plugins.base import ExportContext, ExportOptions, KeyFormat, KeyRecord
from plugins.registry import PluginRegistry, UnknownFormat
from resolvers import audit
from resolvers.devices import KEY_COLUMNS
from resolvers.errors import KmsError
from resolvers.keys.release import _CHUNK, Release, is_text

_SEND_BYTES = 64 * 1024
_ALGORITHMS = {a.value: a for a in KeyAlgorithm}
_SLICE = 500  # keys decrypted between two turns of the event loop


_KEY_FIELDS = KEY_COLUMNS[2:]  # device_id ... check_value: a stored key row without its id


async def _records(release: KeyRelease, ring: KekResolver) -> AsyncIterator[list[KeyRecord]]:
    """The release's keys in file order, part by part (memory stays flat), decrypted a slice at a time.
    While a part is decrypted the database reads the next one, and between slices the event loop serves
    everything else (a slice is ~5 ms of CPU). Plain rows, no ORM objects: a million keys pass through here.
    Not for use inside a transaction (the next part is read on a second connection)."""
    seqs: list[int] = list(
        await KeyReleasePart.filter(release_id=release.id).order_by("seq").values_list("seq", flat=True)  # type: ignore[arg-type]
    )
    pending = asyncio.ensure_future(_part_rows(release, seqs[0])) if seqs else None
    try:
        for index in range(len(seqs)):
            assert pending is not None
            rows = await pending
            pending = asyncio.ensure_future(_part_rows(release, seqs[index + 1])) if index + 1 < len(seqs) else None
            for start in range(0, len(rows), _SLICE):
                await asyncio.sleep(0)
                yield [_record(row, ring) for row in rows[start : start + _SLICE]]
    finally:
        if pending is not None:
            pending.cancel()


def _record(row: tuple[Any, ...], ring: KekResolver) -> KeyRecord:
    (
        device_id,
        serial,
        device_type,
        attributes,
        key_type,
        algorithm,
        ciphertext,
        nonce,
        wrapped,
        kek_id,
        version,
        kcv,
    ) = row
    sealed = SealedKey(bytes(ciphertext), bytes(nonce), bytes(wrapped), kek_id, version)
    secret = open_sealed(sealed, device_id=str(device_id), key_type=key_type, kek_resolver=ring)
    return KeyRecord(serial, device_type, key_type, _ALGORITHMS[algorithm], secret, json.loads(attributes), kcv)


# One statement per part: the ids are split in SQL and the lateral subqueries (fenced with OFFSET 0) look
# each device and its keys up by index, so the cost follows the part, not the table (otherwise a hash join
# of all device_keys was chosen, once per part).
_PART_PG = f"""
SELECT d.id, d.serial_number, d.device_type, d.attributes, {", ".join(f"k.{c}" for c in _KEY_FIELDS[1:])}
FROM key_release_parts p
CROSS JOIN LATERAL unnest(string_to_array(p.device_ids, ',')::uuid[]) WITH ORDINALITY AS part(id, position)
CROSS JOIN LATERAL (SELECT * FROM devices WHERE id = part.id OFFSET 0) AS d
CROSS JOIN LATERAL (SELECT * FROM device_keys WHERE device_id = part.id OFFSET 0) AS k
WHERE p.release_id = $1 AND p.seq = $2
ORDER BY part.position, k.key_type
"""  # noqa: S608 - column names are ours


async def _part_rows(release: KeyRelease, seq: int) -> list[tuple[Any, ...]]:
    """One part's devices with their stored keys (device, then key slot order), each row a device's id,
    serial number, type and attributes followed by one sealed key."""
    if db.dialect() == "postgres":
        return [tuple(r) for r in await db.pg_fetch(_PART_PG, release.id, seq)]
    text = await KeyReleasePart.filter(release_id=release.id, seq=seq).values_list("device_ids", flat=True)
    ids = [UUID(i) for i in str(text[0]).split(",")] if text else []
    devices = {
        row[0]: row
        for start in range(0, len(ids), _CHUNK)
        for row in await Device.filter(id__in=ids[start : start + _CHUNK]).values_list(
            "id", "serial_number", "device_type", "attributes"
        )
    }
    keys: dict[Any, list[tuple[Any, ...]]] = {}
    for start in range(0, len(ids), _CHUNK):
        for key in (
            await DeviceKey.filter(device_id__in=ids[start : start + _CHUNK])
            .order_by("key_type")
            .values_list(*_KEY_FIELDS)
        ):
            keys.setdefault(key[0], []).append(key[1:])
    return [(*devices[i], *key) for i in ids if i in devices for key in keys.get(i, [])]


async def stream_file(
    release: KeyRelease, key_format: KeyFormat, registry: PluginRegistry, ring: KekResolver
) -> AsyncIterator[bytes]:
    """The release's file as chunks. A CMS envelope needs the whole plaintext first: it is built in memory,
    never in a temporary file, which would leave the keys in plain text on the disk (so an enveloped file
    costs memory in proportion to its keys, about 80 bytes each)."""
    ctx = ExportContext(
        ExportOptions(csv_delimiter=release.csv_delimiter or ";", thousands_separator=release.csv_thousands_separator),
        {t.id: t for t in registry.device_types()},
    )
    writer = key_format.writer()

    async def parts() -> AsyncIterator[bytes | str]:
        for part in writer.header(ctx):
            yield part
        async for records in _records(release, ring):
            # one piece per part of the release: the writer's pieces of a few thousand keys joined here
            yield b"".join(p.encode() if isinstance(p, str) else p for r in records for p in writer.rows(r))
        for part in writer.footer():
            yield part

    async def chunks() -> AsyncIterator[bytes]:
        # One send per ~64 KB instead of one per line: the ASGI stack costs more than the writing.
        buffer: list[bytes] = []
        size = 0
        async for part in parts():
            data = part.encode() if isinstance(part, str) else part
            buffer.append(data)
            size += len(data)
            if size >= _SEND_BYTES:
                yield b"".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield b"".join(buffer)

    if not release.recipient_certificate:
        async for chunk in chunks():
            yield chunk
        return
    plaintext = bytearray()
    async for chunk in chunks():
        plaintext += chunk
    yield cms.envelope(bytes(plaintext), release.recipient_certificate)


async def inline_content(release: Release, registry: PluginRegistry, ring: KekResolver, limit: int) -> str | None:
    """The file as text when it is small and textual, for the mutation's ``content`` field."""
    if release.model.key_count > limit or not is_text(release.key_format, bool(release.model.recipient_certificate)):
        return None
    parts = [chunk async for chunk in stream_file(release.model, release.key_format, registry, ring)]
    return b"".join(parts).decode("utf-8")


async def claim_download(token: str, registry: PluginRegistry, client_address: str | None = None) -> KeyRelease:
    """Use a download token once: one guarded UPDATE, so two requests cannot both get the file, committed
    with an audit event (who fetched the keys is part of their release). A release in a format no longer
    enabled is refused before its link is used up."""
    digest = tokens.token_digest(token)
    now = await db.clock()  # the clock the link's expiry was set by, whichever host serves it
    waiting = KeyRelease.filter(token_digest=digest, downloaded_at__isnull=True, expires_at__gt=now)
    release = await waiting.first()
    if release is None:
        raise KmsError("This download link is unknown, used or expired.", code="TOKEN_INVALID")
    try:
        registry.format(release.format)
    except UnknownFormat:
        raise KmsError(f"The key format {release.format!r} is not enabled on this server.", code="CONFLICT") from None
    async with in_transaction():
        if await waiting.update(downloaded_at=now) != 1:
            raise KmsError("This download link is unknown, used or expired.", code="TOKEN_INVALID")
        organisation = await Organisation.get(id=release.organisation_id)  # type: ignore[attr-defined]
        await audit.record(
            "keys.downloaded",
            None,
            actor_label="download link",
            organisation_id=organisation.id,
            organisation_path=organisation.path,
            target=f"release:{release.id}",
            details={"filename": release.filename, "keyCount": release.key_count, "clientAddress": client_address},
        )
    release.downloaded_at = now
    return release
