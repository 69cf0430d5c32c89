"""KEK rotation: every data key rewrapped under a new KEK version while the service keeps serving."""

from __future__ import annotations

from tortoise.expressions import Q

from crypto.envelope import SealedKey, rewrap
from crypto.kek import Kek
from models.keys import DeviceKey
from resolvers.keys.release import _CHUNK
from resolvers.keystore import KeyStore


async def rotate_kek(store: KeyStore, *, batch: int = _CHUNK) -> tuple[Kek, int]:
    """Add a KEK version and rewrap every data key under it, while servers keep serving: a key not yet
    rewrapped still opens under its old version, which stays in the ring. Returns the new KEK and the
    number of keys rewrapped. Rows another process writes under the old version meanwhile are picked up
    by the next pass; the loop ends when none is left."""
    new = store.rotate()
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
