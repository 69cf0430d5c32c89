"""Block-cipher building blocks used by key custody and the device-type plugins.

Plugins call these instead of ``cryptography.hazmat`` (ruff's banned-api rule enforces it), so every
cipher choice in the code base is visible in this one module. Inputs are checked first and errors name
the exact constraint, the way pyca/cryptography reports them.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac, keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.errors import KeyIntegrityError

AES_BLOCK = 16
DES_BLOCK = 8
_AES_KEY_SIZES = (16, 24, 32)


def _check_aes_key(key: bytes) -> None:
    if len(key) not in _AES_KEY_SIZES:
        raise ValueError(f"AES key must be 128, 192, or 256 bits, got {len(key) * 8}.")


def _check_blocks(data: bytes, what: str) -> None:
    if len(data) % AES_BLOCK:
        raise ValueError(f"{what} length must be a multiple of 16 bytes, got {len(data)}.")


def aes_cmac(key: bytes, message: bytes) -> bytes:
    """Compute AES-CMAC (RFC 4493 / NIST SP 800-38B).

    Args:
        key: AES key of 16, 24 or 32 bytes.
        message: Data to authenticate, any length.

    Returns:
        The full 16-byte tag; callers truncate it where their protocol says so.
    """
    _check_aes_key(key)
    c = cmac.CMAC(algorithms.AES(key))
    c.update(message)
    return c.finalize()


def aes_key_wrap(kek: bytes, key: bytes) -> bytes:
    """Wrap ``key`` under ``kek`` with AES key wrap (RFC 3394), as LoRaWAN backend KeyEnvelopes do.

    Args:
        kek: AES key-encryption key of 16, 24 or 32 bytes.
        key: Key to wrap, at least 16 bytes and a multiple of 8.

    Returns:
        The wrapped key, 8 bytes longer than ``key``.
    """
    _check_aes_key(kek)
    if len(key) < 16 or len(key) % 8:
        raise ValueError("Key to wrap must be at least 16 bytes and a multiple of 8 bytes.")
    return keywrap.aes_key_wrap(kek, key)


def aes_key_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """Unwrap an RFC 3394 wrapped key.

    Args:
        kek: The AES key-encryption key used to wrap.
        wrapped: The wrapped key.

    Returns:
        The unwrapped key.

    Raises:
        KeyIntegrityError: The integrity check failed (wrong KEK or altered data).
    """
    _check_aes_key(kek)
    if len(wrapped) < 24 or len(wrapped) % 8:
        raise KeyIntegrityError("Wrapped key has an invalid length.")
    try:
        return keywrap.aes_key_unwrap(kek, wrapped)
    except keywrap.InvalidUnwrap:
        # Wrong KEK and tampering are indistinguishable by design; say neither.
        raise KeyIntegrityError("Wrapped key failed its integrity check.") from None


def aes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Encrypt whole blocks with AES-CBC and no padding (wM-Bus pads with 0x2F itself).

    Args:
        key: AES key of 16, 24 or 32 bytes.
        iv: 16-byte initialisation vector.
        data: Plaintext, a multiple of 16 bytes.

    Returns:
        The ciphertext, same length as ``data``.
    """
    _check_aes_key(key)
    if len(iv) != AES_BLOCK:
        raise ValueError("AES-CBC IV must be 16 bytes.")
    _check_blocks(data, "AES-CBC plaintext")
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Decrypt whole blocks with AES-CBC and no padding removal.

    Args:
        key: AES key of 16, 24 or 32 bytes.
        iv: 16-byte initialisation vector.
        data: Ciphertext, a multiple of 16 bytes.

    Returns:
        The plaintext; it is not authenticated, callers check a known prefix or a MAC.
    """
    _check_aes_key(key)
    if len(iv) != AES_BLOCK:
        raise ValueError("AES-CBC IV must be 16 bytes.")
    _check_blocks(data, "AES-CBC ciphertext")
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()


def aes_ecb_encrypt_block(key: bytes, block: bytes) -> bytes:
    """Encrypt exactly one 16-byte block with AES (used for key check values).

    Args:
        key: AES key of 16, 24 or 32 bytes.
        block: One 16-byte block.

    Returns:
        The encrypted block.
    """
    _check_aes_key(key)
    if len(block) != AES_BLOCK:
        raise ValueError("AES block must be 16 bytes.")
    # ECB on a single block is a raw block-cipher call, which is what a KCV is defined as.
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    return enc.update(block) + enc.finalize()


def tdes_ecb_encrypt_block(key: bytes, block: bytes) -> bytes:
    """Encrypt one 8-byte block with DES or 3DES (legacy meter keys and their check values).

    Single DES is computed as 3DES with K|K|K, and two-key 3DES as K1|K2|K1, which is what those keys
    mean; ``cryptography`` only accepts the 24-byte form without deprecation warnings.

    Args:
        key: 8 (DES), 16 (2-key 3DES) or 24 (3-key 3DES) bytes.
        block: One 8-byte block.

    Returns:
        The encrypted block.
    """
    if len(key) == 8:
        key = key * 3
    elif len(key) == 16:
        key = key + key[:8]
    elif len(key) != 24:
        raise ValueError(f"DES key must be 64, 128, or 192 bits, got {len(key) * 8}.")
    if len(block) != DES_BLOCK:
        raise ValueError("DES block must be 8 bytes.")
    enc = Cipher(TripleDES(key), modes.ECB()).encryptor()  # noqa: S305
    return enc.update(block) + enc.finalize()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two byte strings in time independent of where they differ (MICs, MACs, keys).

    Args:
        a: First value.
        b: Second value.

    Returns:
        True when equal.
    """
    return hmac.compare_digest(a, b)
