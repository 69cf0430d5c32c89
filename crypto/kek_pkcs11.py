"""PKCS#11 (HSM) key-encryption keys, through python-pkcs11.

The KEK is an AES-256 secret key object stored in the token, created non-extractable and sensitive with
only the WRAP and UNWRAP capabilities: its value never leaves the HSM, and it cannot be used as a general
encrypt/decrypt oracle. Data keys are wrapped and unwrapped inside the HSM with ``CKM_AES_KEY_WRAP``
(RFC 3394, the same format ``AesKek`` produces: a 32-byte data key wraps to 40 bytes, whose 64-bit
integrity check makes a wrong KEK or an altered value fail instead of yielding wrong bytes).

SoftHSM2 2.6 offers ``CKM_AES_KEY_WRAP`` only through ``C_WrapKey``/``C_UnwrapKey`` (``C_Encrypt`` with it
answers ``CKR_MECHANISM_INVALID``), so a data key is imported as a short-lived, non-token, extractable
session object, wrapped, and destroyed; unwrapping creates the same kind of session object, reads its
value and destroys it. ``CKM_AES_GCM`` is available too, but key wrap is the mechanism made for keys: no
nonce to manage (GCM with random 96-bit IVs is bounded to about 2^32 wraps per key) and the KEK needs no
ENCRYPT/DECRYPT capability at all.

Versions live in the token under labels ``<key_label>-v<N>`` (``kms-kek-v1``, ``kms-kek-v2``, ...).
``Pkcs11KekSet.rotate()`` generates version N+1; old versions stay in the token, so data keys wrapped by
them still open until ``rotate-kek`` has rewrapped them.

python-pkcs11 sessions are not thread-safe, and PKCS#11 login state belongs to the whole process (closing
a logged-in session logs out every session). So each token gets one logged-in session per process, shared
by every KEK version on it and used under a lock; a session lost to the token (removed, closed, process
forked) is reopened once before an operation fails. The PIN is kept as ``SecretBytes`` and never appears
in a repr, log or error.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.types import UnwrapMixin, WrapMixin

from crypto.errors import CryptoError, KekConfigError, KeyIntegrityError, SealedError
from crypto.kek import Kek, KekRing
from crypto.secret import SecretBytes

log = logging.getLogger(__name__)

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
DEFAULT_KEY_LABEL = "kms-kek"
MECHANISM = Mechanism.AES_KEY_WRAP
KEK_BITS = 256
MAX_KEK_ID = 64  # models.keys.DeviceKey.kek_id

_T = TypeVar("_T")

# The session is gone or no longer logged in: reopen it and try once more.
_STALE_SESSION = (
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.UserNotLoggedIn,
    p11.DeviceRemoved,
    p11.TokenNotPresent,
    p11.ObjectHandleInvalid,
    p11.KeyHandleInvalid,
)
# What C_UnwrapKey answers for a value this KEK did not wrap (SoftHSM2 reports a failed RFC 3394
# integrity check as CKR_GENERAL_ERROR) or for a malformed one.
_UNWRAP_FAILED = (
    p11.GeneralError,
    p11.WrappedKeyInvalid,
    p11.WrappedKeyLenRange,
    p11.EncryptedDataInvalid,
    p11.EncryptedDataLenRange,
    p11.DataInvalid,
    p11.DataLenRange,
)
_CONFIG_ERRORS = (
    p11.NoSuchToken,
    p11.MultipleTokensReturned,
    p11.PinIncorrect,
    p11.PinInvalid,
    p11.PinLenRange,
    p11.PinLocked,
    p11.PinExpired,
    p11.UserPinNotInitialized,
    p11.TokenNotRecognised,
    p11.UserAlreadyLoggedIn,
)


class Pkcs11Error(CryptoError):
    """The HSM failed an operation for a reason other than configuration or integrity."""


def object_label(key_label: str, version: int) -> str:
    """Label of one KEK version's object in the token, for example ``kms-kek-v2``."""
    return f"{key_label}-v{version}"


def _kek_template() -> dict[Attribute, Any]:
    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.MODIFIABLE: False,
        Attribute.WRAP: True,
        Attribute.UNWRAP: True,
        Attribute.ENCRYPT: False,
        Attribute.DECRYPT: False,
        Attribute.SIGN: False,
        Attribute.VERIFY: False,
        Attribute.DERIVE: False,
    }


# A data key in transit through the HSM: a session object (gone when the session closes) that may be
# read back, with no capability of its own.
_DEK_TEMPLATE: dict[Attribute, Any] = {
    Attribute.TOKEN: False,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: False,
    Attribute.EXTRACTABLE: True,
    Attribute.ENCRYPT: False,
    Attribute.DECRYPT: False,
    Attribute.SIGN: False,
    Attribute.VERIFY: False,
    Attribute.WRAP: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}


class _Token:
    """The process's logged-in session to one token, used under a lock."""

    def __init__(self, module_path: str, token_label: str, pin: SecretBytes) -> None:
        self.module_path = module_path
        self.token_label = token_label
        self.pin = pin
        self._lock = threading.RLock()
        self._session: pkcs11.Session | None = None
        self._pid = os.getpid()
        self._keys: dict[str, pkcs11.SecretKey] = {}

    def _library(self) -> Any:
        try:
            return pkcs11.lib(self.module_path)
        except p11.PKCS11Error as exc:
            raise KekConfigError(f"Cannot load the PKCS#11 module {self.module_path}: {exc}") from None

    def _open(self) -> pkcs11.Session:
        lib = self._library()
        if self._pid != os.getpid():
            # PKCS#11 state does not survive fork(): start the library afresh in the child.
            lib.reinitialize()
            self._pid = os.getpid()
        try:
            token = lib.get_token(token_label=self.token_label)
            session = token.open(rw=True, user_pin=self.pin.reveal().decode("utf-8"))
        except _CONFIG_ERRORS as exc:
            raise KekConfigError(
                f"Cannot log in to PKCS#11 token {self.token_label!r}: {type(exc).__name__}."
            ) from None
        return cast(pkcs11.Session, session)

    def _drop(self) -> None:
        self._session = None  # Invalid already; closing it would log out other sessions.
        self._keys.clear()

    def run(self, op: Callable[[pkcs11.Session], _T]) -> _T:
        """Run ``op`` with the logged-in session, reopening a lost session once."""
        with self._lock:
            if self._pid != os.getpid():
                self._drop()
            for attempt in (1, 2):
                if self._session is None:
                    self._session = self._open()
                try:
                    return op(self._session)
                except _STALE_SESSION as exc:
                    self._drop()
                    if attempt == 2:
                        raise Pkcs11Error(f"PKCS#11 session lost: {type(exc).__name__}.") from None
                except p11.PKCS11Error as exc:
                    raise Pkcs11Error(f"PKCS#11 operation failed: {type(exc).__name__}.") from None
            raise AssertionError("unreachable")

    def key(self, session: pkcs11.Session, label: str) -> pkcs11.SecretKey:
        """The KEK object with this label (cached per session); checks it is a safe KEK."""
        cached = self._keys.get(label)
        if cached is not None:
            return cached
        try:
            key = session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=label)
        except p11.NoSuchKey:
            raise KekConfigError(f"PKCS#11 token {self.token_label!r} holds no AES key {label!r}.") from None
        except p11.MultipleObjectsReturned:
            raise KekConfigError(f"PKCS#11 token {self.token_label!r} holds several keys labelled {label!r}.") from None
        if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
            raise KekConfigError(f"PKCS#11 key {label!r} must be non-extractable and sensitive.")
        if key[Attribute.VALUE_LEN] * 8 != KEK_BITS:
            raise KekConfigError(f"PKCS#11 key {label!r} must be AES-{KEK_BITS}.")
        if not (key[Attribute.WRAP] and key[Attribute.UNWRAP]):
            raise KekConfigError(f"PKCS#11 key {label!r} must allow WRAP and UNWRAP.")
        secret = cast(pkcs11.SecretKey, key)
        self._keys[label] = secret
        return secret

    def labels(self, session: pkcs11.Session) -> list[str]:
        """Labels of every AES secret key in the token."""
        found = session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES})
        return [str(obj[Attribute.LABEL]) for obj in found]


_tokens: dict[tuple[str, str], _Token] = {}
_tokens_lock = threading.Lock()


def _token_for(module_path: str, token_label: str, pin: str) -> _Token:
    if not module_path:
        raise KekConfigError("The PKCS#11 module path is empty.")
    if not token_label:
        raise SealedError("No PKCS#11 token label is configured.")
    if not pin:
        raise SealedError("No PKCS#11 PIN is configured.")
    secret = SecretBytes(pin.encode("utf-8"))
    with _tokens_lock:
        token = _tokens.get((module_path, token_label))
        if token is None:
            token = _tokens[(module_path, token_label)] = _Token(module_path, token_label, secret)
        elif not hmac.compare_digest(token.pin.reveal(), secret.reveal()):
            # The token is already logged in for this process: a second PIN must not ride on that login.
            raise KekConfigError(f"A different PIN is already in use for PKCS#11 token {token_label!r}.")
    return token


class Pkcs11Kek:
    """One version of a KEK held in a PKCS#11 token; wraps data keys inside the HSM (RFC 3394).

    Args:
        module_path: The PKCS#11 module (``.so``), for example SoftHSM2's.
        token_label: Label of the token.
        pin: The token's user PIN.
        key_label: Base label of the KEK; version N is the object labelled ``<key_label>-v<N>``.
        version: The KEK version.
        kek_id: KEK id recorded with wrapped data keys; defaults to ``pkcs11:<key_label>``.

    Raises:
        KekConfigError: The module, token or key is missing, the PIN is wrong, or the key is extractable,
            not sensitive, not AES-256 or cannot wrap.
        SealedError: The token label or the PIN is empty.
    """

    __slots__ = ("_kek_id", "_key_label", "_label", "_token", "_version")

    def __init__(
        self,
        module_path: str,
        token_label: str,
        pin: str,
        key_label: str,
        *,
        version: int = 1,
        kek_id: str | None = None,
    ) -> None:
        if not key_label:
            raise KekConfigError("The PKCS#11 key label is empty.")
        if version < 1:
            raise KekConfigError("KEK version must be 1 or more.")
        kek_id = kek_id or f"pkcs11:{key_label}"
        if len(kek_id) > MAX_KEK_ID:
            raise KekConfigError(f"KEK id must be at most {MAX_KEK_ID} characters.")
        self._token = _token_for(module_path, token_label, pin)
        self._key_label = key_label
        self._label = object_label(key_label, version)
        self._version = version
        self._kek_id = kek_id
        # Fail at start-up, not at the first key operation, when the key is missing or unsafe.
        self._token.run(lambda session: self._token.key(session, self._label))

    @property
    def kek_id(self) -> str:
        """Stable name of this KEK."""
        return self._kek_id

    @property
    def version(self) -> int:
        """Version of this KEK."""
        return self._version

    @property
    def label(self) -> str:
        """Label of the key object in the token."""
        return self._label

    def wrap(self, dek: bytes) -> bytes:
        """Wrap a data key inside the HSM with CKM_AES_KEY_WRAP."""
        value = bytes(dek)
        if len(value) < 16 or len(value) % 8:
            raise ValueError(f"Data key must be at least 16 bytes and a multiple of 8, got {len(value)}.")

        def op(session: pkcs11.Session) -> bytes:
            kek = self._token.key(session, self._label)
            template = {
                **_DEK_TEMPLATE,
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                Attribute.VALUE: value,
            }
            dek_object = cast(pkcs11.SecretKey, session.create_object(template))
            try:
                return bytes(cast(WrapMixin, kek).wrap_key(dek_object, mechanism=MECHANISM))
            finally:
                dek_object.destroy()

        return self._token.run(op)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Unwrap a data key inside the HSM.

        Raises:
            KeyIntegrityError: The value was not wrapped by this KEK, or was altered.
        """
        value = bytes(wrapped)
        if len(value) < 24 or len(value) % 8:
            raise KeyIntegrityError("Wrapped data key has an invalid length.")

        def op(session: pkcs11.Session) -> bytes:
            kek = self._token.key(session, self._label)
            try:
                dek_object = cast(UnwrapMixin, kek).unwrap_key(
                    ObjectClass.SECRET_KEY,
                    KeyType.GENERIC_SECRET,
                    value,
                    mechanism=MECHANISM,
                    capabilities=MechanismFlag(0),  # The data key may do nothing in the HSM.
                    template=_DEK_TEMPLATE,
                )
            except _UNWRAP_FAILED:
                raise KeyIntegrityError("Data key failed to unwrap (altered, or wrapped by another KEK).") from None
            try:
                return bytes(dek_object[Attribute.VALUE])
            finally:
                dek_object.destroy()

        return self._token.run(op)

    def __repr__(self) -> str:
        return (
            f"Pkcs11Kek(module_path={self._token.module_path!r}, token_label={self._token.token_label!r}, "
            f"label={self._label!r}, kek_id={self._kek_id!r}, version={self._version}, pin=<redacted>)"
        )


class Pkcs11KekSet:
    """All versions of one KEK in a token: listing, creation, rotation and the ring over them.

    Args: as for ``Pkcs11Kek``, without ``version``.
    """

    def __init__(
        self,
        module_path: str,
        token_label: str,
        pin: str,
        key_label: str = DEFAULT_KEY_LABEL,
        *,
        kek_id: str | None = None,
    ) -> None:
        if not key_label:
            raise KekConfigError("The PKCS#11 key label is empty.")
        self._args = (module_path, token_label, pin, key_label)
        self._kek_id = kek_id
        self._token = _token_for(module_path, token_label, pin)
        self._key_label = key_label
        self._label_re = re.compile(re.escape(key_label) + r"-v([1-9][0-9]*)")
        self._keks: dict[int, Pkcs11Kek] = {}

    def version_numbers(self) -> tuple[int, ...]:
        """Versions present in the token, oldest first."""
        labels = self._token.run(self._token.labels)
        found = {int(m.group(1)) for m in map(self._label_re.fullmatch, labels) if m}
        return tuple(sorted(found))

    def get(self, version: int) -> Pkcs11Kek:
        """One version (the object must exist)."""
        kek = self._keks.get(version)
        if kek is None:
            kek = self._keks[version] = Pkcs11Kek(*self._args, version=version, kek_id=self._kek_id)
        return kek

    def versions(self) -> tuple[Pkcs11Kek, ...]:
        """Every version in the token, oldest first."""
        return tuple(self.get(v) for v in self.version_numbers())

    def create(self, version: int) -> Pkcs11Kek:
        """Generate version ``version`` in the token unless it exists, and return it."""
        label = object_label(self._key_label, version)
        self._token.run(lambda session: _generate_once(self._token, session, label))
        return self.get(version)

    def rotate(self) -> Pkcs11Kek:
        """Generate the next version (highest + 1) in the token and return it."""
        numbers = self.version_numbers()
        return self.create(numbers[-1] + 1 if numbers else 1)

    def ring(self, *, create: bool = False) -> KekRing:
        """A ``KekRing`` with every version, the highest current.

        Args:
            create: Generate version 1 when the token holds none.

        Raises:
            SealedError: The token holds no version and ``create`` is false.
        """
        keks: tuple[Kek, ...] = self.versions()
        if not keks:
            if not create:
                raise SealedError(f"PKCS#11 token holds no KEK labelled {object_label(self._key_label, 1)!r}.")
            keks = (self.create(1),)
        return KekRing(keks)

    def __repr__(self) -> str:
        return (
            f"Pkcs11KekSet(module_path={self._token.module_path!r}, token_label={self._token.token_label!r}, "
            f"key_label={self._key_label!r}, pin=<redacted>)"
        )


def _generate_once(token: _Token, session: pkcs11.Session, label: str) -> None:
    """Generate a non-extractable AES-256 KEK labelled ``label`` unless the token has one.

    Two processes may both find the label missing and both generate: then every copy but the one with
    the lowest CKA_ID is destroyed by the process that made it, so exactly one survives and both use it.
    """
    if label in token.labels(session):
        return
    key_id = os.urandom(16)
    session.generate_key(
        KeyType.AES,
        KEK_BITS,
        id=key_id,
        label=label,
        store=True,
        template=_kek_template(),
    )
    log.info("Generated PKCS#11 KEK %s in token %s", label, token.token_label)
    same = list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label}))
    if len(same) > 1:
        keep = min(bytes(obj[Attribute.ID]) for obj in same)
        if key_id != keep:
            for obj in same:
                if bytes(obj[Attribute.ID]) == key_id:
                    obj.destroy()
    token.key(session, label)


def create_kek(
    module_path: str,
    token_label: str,
    pin: str,
    key_label: str = DEFAULT_KEY_LABEL,
    *,
    version: int = 1,
    kek_id: str | None = None,
) -> Pkcs11Kek:
    """Generate the non-extractable KEK version in the token if it is missing (setup), and return it."""
    return Pkcs11KekSet(module_path, token_label, pin, key_label, kek_id=kek_id).create(version)
