"""Envelope encryption of stored device keys.

Each key is encrypted with AES-256-GCM under its own random 256-bit data key (DEK) and a random 96-bit
nonce. The additional authenticated data binds the ciphertext to a scheme tag, the device id and the key
slot, so a ciphertext copied to another row (another device or slot) fails to open instead of yielding a
key for the wrong meter. The DEK is wrapped by a KEK (``crypto.kek``) whose id and version are stored with
it; rotating the KEK rewraps the DEK and leaves the key ciphertext untouched.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import KeyIntegrityError
from crypto.kek import Kek, KekResolver
from crypto.secret import SecretBytes, as_bytes

DEK_BYTES = 32
NONCE_BYTES = 12
# Part of the AAD: a later scheme gets a new tag, so its ciphertexts can never be read as this one's.
SCHEME = b"meter-kms/key/v1"
_SCHEME_PART = struct.pack(">H", len(SCHEME)) + SCHEME
MAX_KEY_BYTES = 64


@dataclass(frozen=True, slots=True)
class SealedKey:
    """A stored key: column-ready values, none of which reveals the key.

    Attributes:
        ciphertext: AES-256-GCM ciphertext with its 16-byte tag appended.
        nonce: The 12-byte GCM nonce.
        wrapped_dek: The data key, wrapped by the KEK (RFC 3394).
        kek_id: Id of the KEK that wrapped the data key.
        kek_version: Version of that KEK.
    """

    ciphertext: bytes
    nonce: bytes
    wrapped_dek: bytes
    kek_id: str
    kek_version: int


def _aad(device_id: str, key_type: str) -> bytes:
    if not device_id or not key_type:
        raise ValueError("device_id and key_type must not be empty.")
    device, slot = device_id.encode("utf-8"), key_type.encode("utf-8")
    # Length-prefixed so ("ab", "c") and ("a", "bc") give different AADs.
    return _SCHEME_PART + struct.pack(">H", len(device)) + device + struct.pack(">H", len(slot)) + slot


def seal(plaintext_key: bytes | SecretBytes, *, device_id: str, key_type: str, kek: Kek) -> SealedKey:
    """Encrypt a device key for storage.

    Args:
        plaintext_key: The key (1 to 64 bytes).
        device_id: Id of the device row the key belongs to.
        key_type: The key slot (for example ``AppKey``).
        kek: The KEK that wraps the fresh data key (normally ``KekRing.current``).

    Returns:
        The sealed key.
    """
    key = as_bytes(plaintext_key)
    if not 0 < len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"Key must be 1 to {MAX_KEY_BYTES} bytes, got {len(key)}.")
    aad = _aad(device_id, key_type)
    dek = AESGCM.generate_key(bit_length=256)
    # A random nonce is safe here: every DEK encrypts exactly one message.
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, key, aad)
    return SealedKey(
        ciphertext=ciphertext,
        nonce=nonce,
        wrapped_dek=kek.wrap(dek),
        kek_id=kek.kek_id,
        kek_version=kek.version,
    )


def _unwrap_dek(sealed: SealedKey, kek_resolver: KekResolver) -> bytes:
    kek = kek_resolver.resolve(sealed.kek_id, sealed.kek_version)
    dek = kek.unwrap(sealed.wrapped_dek)
    if len(dek) != DEK_BYTES:
        raise KeyIntegrityError("Data key has the wrong length.")
    return dek


def open_sealed(sealed: SealedKey, *, device_id: str, key_type: str, kek_resolver: KekResolver) -> SecretBytes:
    """Decrypt a stored key, checking that it belongs to this device and slot.

    Args:
        sealed: The stored values.
        device_id: Id of the device row being read.
        key_type: The key slot being read.
        kek_resolver: Finds the KEK named in ``sealed`` (a ``KekRing``).

    Returns:
        The key, wrapped so it does not print.

    Raises:
        KeyIntegrityError: Wrong binding (row moved), altered bytes or wrong KEK.
        KekNotFoundError: The named KEK version is not configured.
        SealedError: No KEK is configured.
    """
    if len(sealed.nonce) != NONCE_BYTES:
        raise KeyIntegrityError("Nonce has the wrong length.")
    aad = _aad(device_id, key_type)
    dek = _unwrap_dek(sealed, kek_resolver)
    try:
        return SecretBytes(AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext, aad))
    except InvalidTag:
        raise KeyIntegrityError(
            "Stored key failed authentication (altered, or not bound to this device and slot)."
        ) from None


def rewrap(sealed: SealedKey, old_kek_resolver: KekResolver, new_kek: Kek) -> SealedKey:
    """Rewrap the data key of a stored key under another KEK, for KEK rotation.

    The key ciphertext and nonce are kept as they are; only ``wrapped_dek``, ``kek_id`` and
    ``kek_version`` change, so rotation never handles plaintext device keys.

    Args:
        sealed: The stored values.
        old_kek_resolver: Finds the KEK that wrapped the data key.
        new_kek: The KEK to wrap with.

    Returns:
        The updated sealed key.
    """
    dek = _unwrap_dek(sealed, old_kek_resolver)
    return dataclasses.replace(
        sealed, wrapped_dek=new_kek.wrap(dek), kek_id=new_kek.kek_id, kek_version=new_kek.version
    )
