"""Key algorithms, key generation and key check values (KCV).

A KCV identifies a key without revealing it: the first 3 bytes of the key's encryption of a zero block
(AES: 16-byte block; DES/3DES: 8-byte block), written as 6 lowercase hex digits.
"""

from __future__ import annotations

import secrets
from enum import StrEnum

from crypto.primitives import AES_BLOCK, DES_BLOCK, aes_ecb_encrypt_block, tdes_ecb_encrypt_block
from crypto.secret import SecretBytes, as_bytes

KCV_BYTES = 3


class KeyAlgorithm(StrEnum):
    """Algorithm of a device key; the value is the name used in APIs and files."""

    DES = "DES"
    AES128 = "AES128"
    AES192 = "AES192"
    AES256 = "AES256"

    @property
    def key_length(self) -> int:
        """Key length in bytes (DES: 8; longer 3DES keys are accepted by ``key_check_value`` only)."""
        return _KEY_LENGTHS[self]


_KEY_LENGTHS = {
    KeyAlgorithm.DES: 8,
    KeyAlgorithm.AES128: 16,
    KeyAlgorithm.AES192: 24,
    KeyAlgorithm.AES256: 32,
}


def _with_odd_parity(key: bytes) -> bytes:
    # DES ignores the low bit of each byte; by convention it makes the byte's bit count odd.
    return bytes((b & 0xFE) | ((bin(b >> 1).count("1") + 1) & 1) for b in key)


def generate_key(algorithm: KeyAlgorithm, *, des_parity: bool = True) -> SecretBytes:
    """Generate a random key from the operating system's CSPRNG.

    Args:
        algorithm: The key's algorithm; decides its length.
        des_parity: For DES, set odd parity bits (some meters reject keys without).

    Returns:
        The new key.
    """
    key = secrets.token_bytes(algorithm.key_length)
    if algorithm is KeyAlgorithm.DES and des_parity:
        key = _with_odd_parity(key)
    return SecretBytes(key)


def key_check_value(key: bytes | SecretBytes, algorithm: KeyAlgorithm | None = None) -> str:
    """Compute a key check value.

    Args:
        key: The key.
        algorithm: Its algorithm. When omitted, 8-byte keys are DES and 16/24/32-byte keys AES; pass
            ``KeyAlgorithm.DES`` for 16- or 24-byte 3DES keys, which are otherwise ambiguous.

    Returns:
        Six lowercase hex digits.
    """
    raw = as_bytes(key)
    is_des = algorithm is KeyAlgorithm.DES if algorithm is not None else len(raw) == DES_BLOCK
    if algorithm is not None and algorithm is not KeyAlgorithm.DES and len(raw) != algorithm.key_length:
        raise ValueError(f"{algorithm.value} key must be {algorithm.key_length} bytes, got {len(raw)}.")
    if is_des:
        block = tdes_ecb_encrypt_block(raw, bytes(DES_BLOCK))
    else:
        block = aes_ecb_encrypt_block(raw, bytes(AES_BLOCK))
    return block[:KCV_BYTES].hex()
