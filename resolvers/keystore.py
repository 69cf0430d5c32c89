"""Key custody at run time: this process's KEK ring and plugin registry, built from the settings.

The ring follows the key file: when `kms rotate-kek` adds a version, every server process picks it up on
its next key operation (a stat per call, a reload when the file changed), so rotation needs no restart.
With the PKCS#11 provider it is the same with a search of the token's KEK labels in place of the stat.

The first KEK is made once, by ``open_key_store`` when a server or `kms demo` starts on a database that holds
no key yet. A key file or token that goes missing later leaves the service sealed: a new KEK would open none of
the stored keys, and keys imported under it would be lost with it.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from crypto import server_secret as server_secrets
from crypto.errors import CryptoError, KekNotFoundError, SealedError
from crypto.kek import EnvKek, FileKek, Kek, KekRing, fingerprint
from crypto.secret import SecretBytes
from models import db
from models.keys import DeviceKey, KekVersion, SharedServerSecret
from models.users import User
from plugins.registry import PluginRegistry, load_plugins
from resolvers.errors import KmsError
from settings import Settings

log = logging.getLogger("kms.keys")

if TYPE_CHECKING:
    from crypto.kek_pkcs11 import Pkcs11KekSet


class Sealed(KmsError):
    code = "FORBIDDEN"

    def __init__(self) -> None:
        super().__init__(
            "The key store is sealed: no key-encryption key is configured, so keys cannot be stored, "
            "generated, released or verified.",
            reason="SEALED",
        )


class KeyStore:
    """The KEK ring of one process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._ring: KekRing | None = None
        self._stamp: tuple[int, int] | None = None
        self._pkcs11_set: Pkcs11KekSet | None = None
        self._pkcs11_versions: tuple[int, ...] = ()
        self._shared: dict[tuple[str, int], str] = {}  # the servers' fingerprints (models.keys.KekVersion)
        self._told: set[tuple[str, int]] = set()  # mismatches logged already

    def learn(self, shared: dict[tuple[str, int], str]) -> None:
        """The fingerprints of the KEK versions the servers share (read at start and by a rotation): from now
        on a ring holding another key under one of those ids and versions is refused."""
        with self._lock:
            self._shared = dict(shared)
            self._ring = None  # checked at its next use

    def _verified(self, ring: KekRing) -> KekRing:
        for kek in ring.keks():
            ident = (kek.kek_id, kek.version)
            if ident in self._shared and self._shared[ident] != fingerprint(kek):
                if ident not in self._told:
                    self._told.add(ident)
                    log.error(
                        "KEK %r version %d here is not the one the other servers share: the service stays sealed "
                        "on this server until it has their key file, token or KMS_KEK.",
                        *ident,
                    )
                raise Sealed()
        return ring

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._settings.kek_path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def ring(self) -> KekRing:
        """The current ring; raises Sealed when no KEK is configured."""
        provider = self._settings.kek_provider
        with self._lock:
            if provider == "file":
                stamp = self._file_stamp()
                if self._ring is None or stamp != self._stamp:
                    if stamp is None:
                        raise Sealed()  # the key file is gone: the stored keys need it, not a new one
                    self._ring = None
                    try:
                        self._ring = self._verified(FileKek(self._settings.kek_path, create=False).ring())
                    except SealedError:  # gone between the stat and the read
                        raise Sealed() from None
                    # the stamp seen before reading: a rotation that replaced the file meanwhile is read next time
                    self._stamp = stamp
            elif provider == "env" and self._ring is None:
                try:
                    self._ring = self._verified(KekRing([EnvKek("KMS_KEK")]))
                except SealedError:
                    raise Sealed() from None
            elif provider == "pkcs11":
                try:
                    versions = self._pkcs11().version_numbers()
                    if self._ring is None or versions != self._pkcs11_versions:
                        self._ring = None
                        self._ring = self._verified(self._pkcs11().ring())  # version 1 comes from create_first()
                        self._pkcs11_versions = versions  # (as for the file: a version added meanwhile is read next)
                except SealedError:
                    raise Sealed() from None
            elif provider not in ("file", "env"):
                raise Sealed()
            assert self._ring is not None
            return self._ring

    def create_first(self) -> None:
        """Make the first KEK (a new key file, or version 1 in the token) unless there is one already."""
        with self._lock:
            if self._settings.kek_provider == "file":
                FileKek(self._settings.kek_path)  # created with mode 0600; another process may have won: fine
            elif self._settings.kek_provider == "pkcs11":
                try:
                    self._pkcs11().ring(create=True)
                except SealedError:
                    raise Sealed() from None
            self._ring = None

    def rotation_lock_path(self) -> Path:
        """The file a KEK rotation locks on a single host (SQLite; PostgreSQL uses an advisory lock)."""
        return Path(self._settings.data_dir) / "kek-rotation.lock"

    def resolver(self) -> FollowingRing:
        """What a key operation opens keys with: this ring, read again when a key names a version it lacks."""
        return FollowingRing(self)

    def current(self) -> Kek:
        try:
            return self.ring().current
        except SealedError:
            raise Sealed() from None

    def _pkcs11(self) -> Pkcs11KekSet:
        from crypto.kek_pkcs11 import Pkcs11KekSet  # Loads python-pkcs11 only where it is used.

        if self._pkcs11_set is None:
            s = self._settings
            self._pkcs11_set = Pkcs11KekSet(s.pkcs11_module, s.pkcs11_token_label, s.pkcs11_pin, s.pkcs11_key_label)
        return self._pkcs11_set

    def rotate(self) -> Kek:
        """Add a new KEK version (file or PKCS#11 provider) and return it."""
        if self._settings.kek_provider == "pkcs11":
            with self._lock:
                try:
                    kek: Kek = self._pkcs11().rotate()
                except SealedError:
                    raise Sealed() from None
                self._ring = None
            return kek
        if self._settings.kek_provider != "file":
            raise KmsError("Only the key-file provider can rotate here; rotate the KEK in its own store.")
        with self._lock:
            try:
                kek = FileKek(self._settings.kek_path, create=False).rotate()
            except SealedError:
                raise Sealed() from None
            self._ring = None
        return kek


class FollowingRing:
    """The ring a key operation started with, following rotation: `kms rotate-kek` adds a version and rewraps the
    stored keys under it while releases stream, so a key that names a version this ring lacks makes it read the
    key store again (once per miss; a version still missing then is an error)."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store
        self._ring = store.ring()  # raises Sealed before anything is looked up

    def resolve(self, kek_id: str, version: int) -> Kek:
        try:
            return self._ring.resolve(kek_id, version)
        except KekNotFoundError:
            self._ring = self._store.ring()
            return self._ring.resolve(kek_id, version)


@cache
def keystore(settings: Settings) -> KeyStore:
    return KeyStore(settings)


async def open_key_store(settings: Settings) -> None:
    """At start: a key store without a KEK gets its first one, and a data directory without a server secret
    gets one, but only while the database holds nothing sealed under an earlier one (a lost key file, a wrong
    token or a lost server secret then leaves the service sealed, and the log says why). A store that cannot
    be opened at all (no token label or PIN, an unreachable HSM, a key file with loose permissions) leaves
    the service running sealed too: it says so on each key operation."""
    await _open_kek(settings)
    await _open_server_secret(settings)


async def _open_kek(settings: Settings) -> None:
    provider = settings.kek_provider
    if provider not in ("file", "pkcs11", "env"):
        return
    store = keystore(settings)
    store.learn(await _shared())
    try:
        store.ring()
    except Sealed:
        pass
    except (CryptoError, OSError) as exc:
        log.error("The key store (%s) cannot be opened (%s): the service runs sealed.", provider, exc)
        return
    else:
        await share(store)
        return
    if provider == "env":
        return  # KMS_KEK is missing or is not the servers' KEK (logged): nothing to make here
    async with in_transaction():
        if db.dialect() == "postgres":  # servers starting together: one makes the first KEK, the others see it
            await db.pg_fetch("SELECT pg_advisory_xact_lock($1)", db.AdvisoryLock.FIRST_KEK)
        shared, stored = await _shared(), await DeviceKey.all().count()
        if shared or stored:
            store.learn(shared)
            log.error(
                "The key store (%s) has no key-encryption key, but the servers share one (%d keys are stored under "
                "it): the service stays sealed on this server until it has their key file, token or KMS_KEK.",
                provider,
                stored,
            )
            return
        try:
            store.create_first()
        except (Sealed, CryptoError, OSError) as exc:
            log.error(
                "The key store (%s) has no key-encryption key and cannot make one (%s): it runs sealed.", provider, exc
            )
            return
        await share(store)


async def _shared() -> dict[tuple[str, int], str]:
    return {(k, v): f for k, v, f in await KekVersion.all().values_list("kek_id", "version", "fingerprint")}


async def unknown_versions(store: KeyStore) -> list[tuple[str, int]]:
    """The KEK versions the servers registered that this server's ring lacks (another server rotated, and
    its key file, token or KMS_KEK has not reached this one yet). Raises Sealed when a version held here is
    registered under another key (_held_to_registry)."""
    shared = await _held_to_registry(store)
    held = {(kek.kek_id, kek.version) for kek in store.ring().keks()}
    return sorted(set(shared) - held)


def lacking(missing: list[tuple[str, int]], what: str) -> KmsError:
    """The answer of a server that lacks KEK versions another server added (its rotation's key file, token
    or KMS_KEK has not reached this one): CONFLICT, so that a client retries, on another server or later."""
    versions = ", ".join(f"{kek_id} version {version}" for kek_id, version in missing)
    return KmsError(
        f"This server lacks KEK {versions} that another server added: give it their key file, token or KMS_KEK; {what}",
        code="CONFLICT",
    )


async def _held_to_registry(store: KeyStore) -> dict[tuple[str, int], str]:
    """The registered KEK versions, after checking this server's ring against them: a version held here
    under a key other than the registered one (another server rotated to the same number first) seals this
    server, and the log says why."""
    shared = await _shared()
    for kek in store.ring().keks():
        ident = (kek.kek_id, kek.version)
        if ident in shared and shared[ident] != fingerprint(kek):
            store.learn(shared)
            store.ring()  # raises Sealed
    return shared


async def opening_ring(store: KeyStore) -> FollowingRing:
    """What a key operation opens stored keys with, once this server is known to hold every KEK version the
    servers registered, each under the registered key. A server that another server's rotation has not
    reached yet would fail on the keys rewrapped under the new version: it refuses before a release is
    recorded or a download link used up. Raises Sealed when no KEK is configured or one is not the servers'."""
    ring = store.resolver()
    missing = await unknown_versions(store)
    if missing:
        raise lacking(missing, "nothing was released.")
    return ring


async def storing_kek(store: KeyStore, sealed_with: Kek) -> Kek:
    """Inside the transaction that stores keys sealed under `sealed_with`, after its first write: the KEK
    they must be stored under. A rotation that registered a newer version since they were sealed rewraps
    every key it can see, and these it cannot see before they commit: they go in under the newest version,
    rewrapped by the caller. On PostgreSQL the transaction holds a shared lock that a rotation waits for
    once it has registered its version (rotation.py), so a writer either commits before the rotation's
    passes read the keys or reads the new version here. On SQLite the transaction's first write took the
    database's single write lock, which registering a version needs too. Raises CONFLICT when this server
    lacks the newest version (another server rotated and its key file has not reached this one)."""
    if db.dialect() == "postgres":
        await db.pg_fetch("SELECT pg_advisory_xact_lock_shared($1)", db.AdvisoryLock.KEY_WRITE)
    shared = await _held_to_registry(store)
    if (sealed_with.kek_id, sealed_with.version) not in shared:
        # a rotation here wrote its version to the key file but did not register it (it failed half-way):
        # another server may yet register a different key under that number
        raise KmsError(
            f"KEK {sealed_with.kek_id} version {sealed_with.version} of this server is not registered with the "
            "servers (a rotation did not finish): run `kms rotate-kek` again here; nothing was stored.",
            code="CONFLICT",
        )
    newest = max(v for k, v in shared if k == sealed_with.kek_id)
    if newest == sealed_with.version:
        return sealed_with
    kek = store.current()  # the key file is read again when it changed
    if (kek.kek_id, kek.version) != (sealed_with.kek_id, newest):
        raise lacking([(sealed_with.kek_id, newest)], "nothing was stored.")
    return kek


async def share(store: KeyStore) -> None:
    """Register the fingerprints of the store's KEK versions that the servers do not know yet (at start, and
    after a rotation), then hold the store to what the servers share. Raises Sealed when this server's KEK is
    not theirs (another server registered a different key under the same id and version first)."""
    shared = await _shared()
    store.learn(shared)  # the ring is held to what the servers share now, not to an earlier look
    ring = store.ring()
    for kek in ring.keks():
        ident = (kek.kek_id, kek.version)
        if ident not in shared:
            try:
                await KekVersion.create(kek_id=ident[0], version=ident[1], fingerprint=fingerprint(kek))
            except IntegrityError:
                pass  # another server registered this version meanwhile: compared below
    store.learn(await _shared())
    store.ring()


async def _open_server_secret(settings: Settings) -> None:
    if not (settings.secret_key or server_secrets.exists(Path(settings.data_dir))):
        sealed = await User.filter(otp_secret__isnull=False).count()
        if sealed:
            log.error(
                "The server secret (%s) is missing, but %d second-factor secrets are sealed under one: logins "
                "with a second factor and invite links stay refused until it is back.",
                server_secrets.path_in(Path(settings.data_dir)),
                sealed,
            )
            return
        server_secrets.create(Path(settings.data_dir))
    await _share_server_secret(settings)


_SHARED_SECRET = "server-secret"
_refused_secrets: set[tuple[str, str]] = set()  # (data_dir, KMS_SECRET_KEY) whose secret is not the servers'


async def _share_server_secret(settings: Settings) -> None:
    """Register this server's secret unless another server did first; refuse it if it is not that one."""
    try:
        mine = server_secrets.fingerprint(_load_server_secret(str(settings.data_dir), settings.secret_key))
    except (SealedError, ValueError):
        return  # missing or malformed: refused on use, and said so there
    try:
        shared, _ = await SharedServerSecret.get_or_create(name=_SHARED_SECRET, defaults={"fingerprint": mine})
    except IntegrityError:  # another server registered its secret meanwhile
        shared = await SharedServerSecret.get(name=_SHARED_SECRET)
    key = (str(settings.data_dir), settings.secret_key)
    if shared.fingerprint == mine:
        _refused_secrets.discard(key)
        return
    _refused_secrets.add(key)
    log.error(
        "The server secret here (%s) is not the one the other servers share: invite links and logins with a "
        "second factor stay refused on this server until it has theirs.",
        "KMS_SECRET_KEY" if settings.secret_key else server_secrets.path_in(Path(settings.data_dir)),
    )


@cache
def registry(plugins: tuple[str, ...]) -> PluginRegistry:
    """The registry of the enabled plugins, built once per process."""
    return load_plugins(plugins)


@cache
def _load_server_secret(data_dir: str, configured: str) -> SecretBytes:
    return server_secrets.load_server_secret(Path(data_dir), {server_secrets.ENV_NAME: configured}, create=False)


def server_secret_or_none(settings: Settings) -> SecretBytes | None:
    """The server secret, or None while it is missing (a login without a second factor needs none)."""
    try:
        return server_secret(settings)
    except Sealed:
        return None


def server_secret(settings: Settings) -> SecretBytes:
    """The server secret (KMS_SECRET_KEY or data/server-secret, made by open_key_store at the first start),
    loaded once per data directory. It signs invite links and seals second-factor secrets."""
    if (str(settings.data_dir), settings.secret_key) in _refused_secrets:
        raise Sealed()  # not the servers' secret (logged at the start)
    try:
        return _load_server_secret(str(settings.data_dir), settings.secret_key)
    except SealedError:
        raise Sealed() from None
