"""Key-encryption-key (KEK) providers and the resolver that picks one by id and version.

A KEK wraps the per-key data keys of ``crypto.envelope`` with AES key wrap (RFC 3394); it never touches
device keys directly, so rotating a KEK rewraps 48-byte data keys only.

Providers:
    ``FileKek``: a local key file, the embedded default; created with mode 0600 on first use and holding
    several versions so rotation can add one without losing the old ones.
    ``EnvKek``: one 256-bit key from an environment variable (hex or base64).
    A PKCS#11 (HSM) provider is a later addition; it will implement the same ``Kek`` protocol.

``KekRing`` maps (kek_id, version) to a provider and names the current one. An empty ring means the service
is sealed: ``KekRing.current`` raises ``SealedError``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from crypto.errors import KekConfigError, KekNotFoundError, SealedError
from crypto.primitives import aes_key_unwrap, aes_key_wrap
from crypto.secret import SecretBytes

KEK_BYTES = 32
FILE_FORMAT = "meter-kms-kek-file/1"


@runtime_checkable
class Kek(Protocol):
    """A key-encryption key: wraps and unwraps data keys.

    Implement ``kek_id``, ``version``, ``wrap`` and ``unwrap``; ``unwrap`` must raise
    ``crypto.errors.KeyIntegrityError`` when the wrapped value was not made by this KEK.
    """

    @property
    def kek_id(self) -> str: ...

    @property
    def version(self) -> int: ...

    def wrap(self, dek: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class KekResolver(Protocol):
    """Finds the KEK that wrapped a stored data key."""

    def resolve(self, kek_id: str, version: int) -> Kek: ...


class AesKek:
    """A 256-bit AES KEK held in memory, using RFC 3394 key wrap.

    Args:
        kek_id: Stable name of the KEK (stored next to every wrapped data key).
        version: Version number, increasing with each rotation.
        key: 32 bytes of key material.
    """

    __slots__ = ("_kek_id", "_key", "_version")

    def __init__(self, kek_id: str, version: int, key: bytes | SecretBytes) -> None:
        raw = key.reveal() if isinstance(key, SecretBytes) else bytes(key)
        if len(raw) != KEK_BYTES:
            raise KekConfigError(f"KEK must be 256 bits, got {len(raw) * 8}.")
        if not kek_id:
            raise KekConfigError("KEK id must not be empty.")
        if version < 1:
            raise KekConfigError("KEK version must be 1 or more.")
        self._kek_id = kek_id
        self._version = version
        self._key = SecretBytes(raw)

    @property
    def kek_id(self) -> str:
        """Stable name of this KEK."""
        return self._kek_id

    @property
    def version(self) -> int:
        """Version of this KEK."""
        return self._version

    def wrap(self, dek: bytes) -> bytes:
        """Wrap a data key with AES key wrap."""
        return aes_key_wrap(self._key.reveal(), dek)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Unwrap a data key; raises ``KeyIntegrityError`` if it was not wrapped by this KEK."""
        return aes_key_unwrap(self._key.reveal(), wrapped)

    def resolve(self, kek_id: str, version: int) -> Kek:
        """Let a single KEK act as a resolver for itself."""
        if (kek_id, version) != (self._kek_id, self._version):
            raise KekNotFoundError(f"KEK {kek_id!r} version {version} is not configured.")
        return self

    def __repr__(self) -> str:
        return f"AesKek(kek_id={self._kek_id!r}, version={self._version}, key=<redacted>)"


class KekRing:
    """Resolver over several KEKs (all versions of all sources) with one current KEK for new wraps.

    Args:
        keks: KEKs to register.
        current: The KEK new data keys are wrapped with; defaults to the last of ``keks``.
    """

    def __init__(self, keks: Iterable[Kek] = (), *, current: Kek | None = None) -> None:
        self._keks: dict[tuple[str, int], Kek] = {}
        self._current: Kek | None = None
        for kek in keks:
            self.add(kek, make_current=True)
        if current is not None:
            self.add(current, make_current=True)

    def add(self, kek: Kek, *, make_current: bool = False) -> None:
        """Register a KEK, optionally making it the current one."""
        ident = (kek.kek_id, kek.version)
        if ident in self._keks and self._keks[ident] is not kek:
            raise KekConfigError(f"KEK {kek.kek_id!r} version {kek.version} is configured twice.")
        self._keks[ident] = kek
        if make_current:
            self._current = kek

    @property
    def sealed(self) -> bool:
        """True when no KEK is configured."""
        return self._current is None

    @property
    def current(self) -> Kek:
        """The KEK for new wraps.

        Raises:
            SealedError: No KEK is configured.
        """
        if self._current is None:
            raise SealedError("No key-encryption key is configured; the service is sealed.")
        return self._current

    def resolve(self, kek_id: str, version: int) -> Kek:
        """Return the KEK with this id and version.

        Raises:
            SealedError: The ring is empty.
            KekNotFoundError: The ring has KEKs, but not this one.
        """
        if not self._keks:
            raise SealedError("No key-encryption key is configured; the service is sealed.")
        try:
            return self._keks[(kek_id, version)]
        except KeyError:
            raise KekNotFoundError(f"KEK {kek_id!r} version {version} is not configured.") from None

    def __len__(self) -> int:
        return len(self._keks)

    def keks(self) -> tuple[Kek, ...]:
        """Every KEK of the ring."""
        return tuple(self._keks.values())


# What a fingerprint wraps: a constant the size of a data key (no data key is ever this value's secret).
_FINGERPRINT_INPUT = b"meter-kms/kek-fingerprint/v1\x00\x00\x00\x00"


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fingerprint(kek: Kek) -> str:
    """A name for a KEK's key that servers can compare without holding it: SHA-256 of the (deterministic,
    RFC 3394) wrap of a constant. Two KEKs with the same id and version but different keys differ here."""
    return hashlib.sha256(kek.wrap(_FINGERPRINT_INPUT)).hexdigest()


def _decode_key_text(text: str, source: str) -> bytes:
    value = text.strip()
    if len(value) == 2 * KEK_BYTES:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass  # 64 characters of base64 is possible too; fall through.
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KekConfigError(f"{source} is neither hex nor base64.") from None
    if len(raw) != KEK_BYTES:
        raise KekConfigError(f"{source} must hold 32 bytes, got {len(raw)}.")
    return raw


class EnvKek(AesKek):
    """KEK read once from an environment variable holding 32 bytes as 64 hex digits or base64.

    Args:
        var: Name of the environment variable.
        kek_id: KEK id recorded with wrapped data keys.
        version: KEK version; raise it when the variable gets a new key (keep the old one configured
            under its old version until ``rotate-kek`` has run).
        environ: Mapping to read instead of ``os.environ`` (tests).

    Raises:
        SealedError: The variable is not set or empty.
        KekConfigError: The value does not decode to 32 bytes.
    """

    def __init__(
        self,
        var: str = "KMS_KEK",
        *,
        kek_id: str = "env",
        version: int = 1,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        text = env.get(var, "")
        if not text.strip():
            raise SealedError(f"Environment variable {var} is not set.")
        super().__init__(kek_id, version, _decode_key_text(text, f"Environment variable {var}"))


class FileKek:
    """Versioned KEKs in a local JSON key file, created on first use with mode 0600.

    File format (UTF-8 JSON, one object)::

        {
          "format": "meter-kms-kek-file/1",
          "kek_id": "local",
          "current": 2,
          "keys": {"1": "<base64 of 32 bytes>", "2": "<base64 of 32 bytes>"}
        }

    ``keys`` maps each version (decimal string) to its key; ``current`` is the version used for new
    wraps. ``rotate()`` adds version ``max + 1`` and makes it current; old versions stay so data keys
    wrapped by them still open until they are rewrapped. The file is replaced atomically and refused
    if group or others can read it.

    Args:
        path: Location of the key file.
        kek_id: KEK id written into a newly created file (an existing file keeps its own).
        create: Create the file with a fresh key when it does not exist.
    """

    def __init__(self, path: str | os.PathLike[str], *, kek_id: str = "local", create: bool = True) -> None:
        self._path = Path(path)
        if not self._path.exists():
            if not create:
                raise SealedError(f"KEK file {self._path} does not exist.")
            self._kek_id = kek_id
            self._keks = {1: AesKek(kek_id, 1, os.urandom(KEK_BYTES))}
            self._current = 1
            if self._write(replace=False):
                return
        # Either it existed, or another process created it first: everyone must use the file's key.
        self._load()

    @property
    def path(self) -> Path:
        """Location of the key file."""
        return self._path

    @property
    def kek_id(self) -> str:
        """KEK id stored in the file."""
        return self._kek_id

    @property
    def version(self) -> int:
        """The current version."""
        return self._current

    def wrap(self, dek: bytes) -> bytes:
        """Wrap a data key under the current version."""
        return self._keks[self._current].wrap(dek)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Unwrap a data key wrapped under the current version."""
        return self._keks[self._current].unwrap(wrapped)

    def versions(self) -> tuple[AesKek, ...]:
        """All versions, oldest first."""
        return tuple(self._keks[v] for v in sorted(self._keks))

    def resolve(self, kek_id: str, version: int) -> Kek:
        """Return one version of this file's KEK."""
        if kek_id != self._kek_id or version not in self._keks:
            raise KekNotFoundError(f"KEK {kek_id!r} version {version} is not configured.")
        return self._keks[version]

    def ring(self) -> KekRing:
        """A ``KekRing`` with every version, the current one current."""
        return KekRing(self.versions(), current=self._keks[self._current])

    def rotate(self) -> AesKek:
        """Add a new random version, make it current and save the file.

        Returns:
            The new KEK version.
        """
        with self._locked():
            self._load()  # another process may have added a version since this one read the file
            version = max(self._keks) + 1
            self._keks[version] = AesKek(self._kek_id, version, os.urandom(KEK_BYTES))
            self._current = version
            self._write()
        return self._keks[version]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the file's lock file (``.<name>.lock`` beside it) meanwhile: two rotations
        of the same file take turns, so neither writes over the version the other added."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path.with_name(f".{self._path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # (closing releases the lock)

    def _load(self) -> None:
        mode = self._path.stat().st_mode
        # Like ssh with private keys: a KEK readable by others is a leaked KEK, so refuse to use it.
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KekConfigError(f"KEK file {self._path} must not be accessible by group or others.")
        try:
            doc = json.loads(self._path.read_text(encoding="utf-8"))
            if doc.get("format") != FILE_FORMAT:
                raise KekConfigError(f"KEK file {self._path} has an unknown format.")
            kek_id = str(doc["kek_id"])
            keys = {
                int(v): AesKek(kek_id, int(v), _decode_key_text(str(k), f"KEK file version {v}"))
                for v, k in doc["keys"].items()
            }
            current = int(doc["current"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KekConfigError(f"KEK file {self._path} is malformed: {type(exc).__name__}.") from None
        if current not in keys:
            raise KekConfigError(f"KEK file {self._path} names a current version it does not hold.")
        self._kek_id, self._keks, self._current = kek_id, keys, current

    def _write(self, *, replace: bool = True) -> bool:
        doc = {
            "format": FILE_FORMAT,
            "kek_id": self._kek_id,
            "current": self._current,
            "keys": {str(v): base64.b64encode(k._key.reveal()).decode("ascii") for v, k in self._keks.items()},
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        # O_EXCL with 0600 from the start: the key is never on disk with wider permissions, not even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=2)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            if replace:
                os.replace(tmp, self._path)
            else:
                try:
                    # link() never overwrites: when several workers start at once, exactly one creates the
                    # file and the others load it, instead of each sealing keys under its own KEK.
                    os.link(tmp, self._path)
                except FileExistsError:
                    return False
        finally:
            tmp.unlink(missing_ok=True)
        # The new name must survive a crash before anything is sealed under the version it holds (a rotation
        # registers the version and rewraps keys right after): sync the directory entry too.
        _sync_directory(self._path.parent)
        return True

    def __repr__(self) -> str:
        return f"FileKek(path={str(self._path)!r}, kek_id={self._kek_id!r}, version={self._current})"
