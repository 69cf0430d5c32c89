"""Key custody at run time: this process's KEK ring and plugin registry, built from the settings.

The ring follows the key file: when `kms rotate-kek` adds a version, every server process picks it up on
its next key operation (a stat per call, a reload when the file changed), so rotation needs no restart.
With the PKCS#11 provider it is the same with a search of the token's KEK labels in place of the stat.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from crypto import server_secret as server_secrets
from crypto.errors import SealedError
from crypto.kek import EnvKek, FileKek, Kek, KekRing
from crypto.secret import SecretBytes
from plugins.registry import PluginRegistry, load_plugins
from resolvers.errors import KmsError
from settings import Settings

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
                    self._ring = FileKek(self._settings.kek_path).ring()
                    self._stamp = self._file_stamp()
            elif provider == "env" and self._ring is None:
                try:
                    self._ring = KekRing([EnvKek("KMS_KEK")])
                except SealedError:
                    raise Sealed() from None
            elif provider == "pkcs11":
                try:
                    versions = self._pkcs11().version_numbers()
                    if self._ring is None or versions != self._pkcs11_versions:
                        # Like the key file on first start: version 1 is generated when the token has none.
                        self._ring = self._pkcs11().ring(create=True)
                        self._pkcs11_versions = self._pkcs11().version_numbers()
                except SealedError:
                    raise Sealed() from None
            elif provider not in ("file", "env"):
                raise Sealed()
            assert self._ring is not None
            return self._ring

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
            kek = FileKek(self._settings.kek_path).rotate()
            self._ring = None
        return kek


@cache
def keystore(settings: Settings) -> KeyStore:
    return KeyStore(settings)


@cache
def registry(plugins: tuple[str, ...]) -> PluginRegistry:
    """The registry of the enabled plugins, built once per process."""
    return load_plugins(plugins)


@cache
def _load_server_secret(data_dir: str, configured: str) -> SecretBytes:
    return server_secrets.load_server_secret(Path(data_dir), {server_secrets.ENV_NAME: configured})


def server_secret(settings: Settings) -> SecretBytes:
    """The server secret (KMS_SECRET_KEY or data/server-secret), loaded (and on first use created) once per
    data directory. It signs invite links and seals second-factor secrets."""
    return _load_server_secret(str(settings.data_dir), settings.secret_key)
