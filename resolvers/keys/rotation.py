"""KEK rotation: every data key rewrapped under a new KEK version while the service keeps serving."""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tortoise import connections
from tortoise.expressions import Q

from crypto.envelope import SealedKey, rewrap
from crypto.kek import Kek
from models import db
from models.keys import DeviceKey
from resolvers.errors import KmsError
from resolvers.keys.release import _CHUNK
from resolvers.keystore import KeyStore, lacking, share, unknown_versions


def _running() -> KmsError:
    return KmsError("Another KEK rotation is running; try again when it has finished.", code="CONFLICT")


@asynccontextmanager
async def _alone(store: KeyStore) -> AsyncIterator[None]:
    """Refuse a second rotation while one runs: two would each rewrap the keys under their own new version,
    undoing each other's work pass after pass, and one would stop on keys under a version its ring lacks.
    PostgreSQL: an advisory lock, held on one connection for the whole rotation (every host shares the
    database). SQLite serves one host: a lock on a file in the data directory."""
    if db.dialect() != "postgres":
        path = store.rotation_lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _running() from None
            yield
        finally:
            os.close(fd)  # (which releases the lock)
        return
    async with connections.get("default").acquire_connection() as connection:
        if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", db.AdvisoryLock.KEK_ROTATION):
            raise _running()
        try:
            yield
        finally:
            await connection.fetchval("SELECT pg_advisory_unlock($1)", db.AdvisoryLock.KEK_ROTATION)


async def _writers_done() -> None:
    """Wait for the transactions that store keys and started before the new version was registered: they
    sealed under the old one and hold the key-writing lock shared (keystore.storing_kek). Writers that take
    it from now on read the new version and store under it. SQLite needs no wait: registering the version
    took the database's single write lock, after every writer before it had committed."""
    async with db.held(db.AdvisoryLock.KEY_WRITE):
        pass


async def rotate_kek(store: KeyStore, *, batch: int = _CHUNK) -> tuple[Kek, int]:
    """Add a KEK version and rewrap every data key under it, while servers keep serving: a key not yet
    rewrapped still opens under its old version, which stays in the ring. Returns the new KEK and the
    number of keys rewrapped. Keys stored meanwhile go in under the new version, or are committed before
    the passes (see _writers_done); the loop ends when none is left under an old version. One rotation at a
    time (CONFLICT otherwise)."""
    async with _alone(store):
        return await _rotate(store, batch)


async def _rotate(store: KeyStore, batch: int) -> tuple[Kek, int]:
    await share(store)  # only the servers' own KEK is rotated (Sealed otherwise)
    missing = await unknown_versions(store)
    if missing:  # rotating here would add a version under a number another server already used
        raise lacking(missing, "nothing was rotated.")
    new = store.rotate()
    await share(store)  # the new version, for the other servers to check theirs against
    await _writers_done()  # then every key stored meanwhile is seen by the passes below
    ring = store.ring()
    done = 0
    while True:
        stale = await DeviceKey.filter(Q(kek_id__not=new.kek_id) | Q(kek_version__not=new.version)).limit(batch)
        if not stale:
            return new, done
        for key in stale:
            sealed = SealedKey(
                bytes(key.ciphertext), bytes(key.nonce), bytes(key.wrapped_dek), key.kek_id, key.kek_version
            )
            fresh = rewrap(sealed, ring, new)
            key.wrapped_dek, key.kek_id, key.kek_version = fresh.wrapped_dek, fresh.kek_id, fresh.kek_version
        await DeviceKey.bulk_update(stale, fields=["wrapped_dek", "kek_id", "kek_version"], batch_size=batch)
        done += len(stale)
