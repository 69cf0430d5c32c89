"""What the device modules share: limits, the catalog filter, plain device rows and column lists."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from resolvers.errors import BadInput

MAX_IMPORT_ROWS = 100_000
MAX_FILTER_SERIALS = 10_000  # one SQL parameter each; SQLite binds at most 32,766
MAX_REPORTED_ROWS = 1_000
_CHUNK = 1_000
# After a bulk change this large, fresh planner statistics keep the next statements on their indexes.
_ANALYZE_AFTER = 10_000
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
_HEX = re.compile(r"^[0-9a-fA-F]*$")
LABEL = re.compile(r"^[^\r\n\t]{1,100}$")
MAX_LABELS = 20


@dataclass(frozen=True)
class DeviceFilter:
    serial_numbers: Sequence[str] | None = None
    search: str | None = None
    device_types: Sequence[str] | None = None
    claim_status: str | None = None
    labels: Sequence[str] | None = None
    batch_references: Sequence[str] | None = None
    organisation_ids: Sequence[str] | None = None


DEVICE_COLUMNS = (
    "id",
    "created_at",
    "serial_number",
    "device_type",
    "owner_id",
    "owner_path",
    "claim_status",
    "attributes",
)
KEY_COLUMNS = (
    "id",
    "created_at",
    "device_id",
    "key_type",
    "algorithm",
    "ciphertext",
    "nonce",
    "wrapped_dek",
    "kek_id",
    "kek_version",
    "check_value",
)


class DeviceRow(NamedTuple):
    """A device as the API shows it, without an ORM object (bulk results build a hundred thousand; a
    catalog page 50 per request, and a frozen dataclass cost more to build than the page's statement)."""

    id: UUID
    serial_number: str
    device_type: str
    owner_id: UUID
    claim_status: str
    claimed_at: datetime | None
    created_at: datetime
    batch_id: UUID | None = None


def _uuid(value: str, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise BadInput(field, "Not a valid ID.") from None


_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def uuid_texts(values: Iterable[str], field: str) -> list[str]:
    """The distinct ids of a long list in their canonical text (lower case, hyphenated), in first-seen order;
    another spelling UUID() accepts is converted, anything else refused. A claim of 100,000 ids spent more on
    UUID objects than PostgreSQL spends parsing the same texts (asyncpg sends a text to a uuid parameter as
    the UUID it reads), and the texts compare with SQLite's stored ids as they are."""
    canonical = _UUID_TEXT.fullmatch
    texts: dict[str, None] = {}
    for value in values:
        texts[value if canonical(value) else str(_uuid(value, field))] = None
    return list(texts)


# A hand-written PostgreSQL statement's runner: db.pg_fetch, or the fetch of a connection held for a page.
Fetch = Callable[..., Awaitable[list[Any]]]


_ROW_COLUMNS = "id, serial_number, device_type, owner_id, claim_status, claimed_at, created_at, batch_id"


class BatchRow(NamedTuple):
    """A batch reference as a hand-written statement reads it (the ORM's BatchReference has the same
    attributes): what a catalog page shows beside its devices, without building ORM objects."""

    id: UUID
    created_at: datetime
    reference: str
    label: str | None
    organisation_id: UUID
    sender_id: UUID
    requires_confirmation: bool
    state: str
    device_count: int
    accepted_at: datetime | None


# The columns of a batch reference row, in the order hand-written statements select them.
BATCH_COLUMNS = BatchRow._fields


@dataclass(frozen=True)
class Refused:
    serial_number: str
    reason: str
