"""Exceptions raised by ``crypto``.

Every failure to authenticate or unwrap stored key material raises ``KeyIntegrityError``: callers must
never receive wrong bytes, and messages never include key material.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class of every error raised by ``crypto``."""


class KeyIntegrityError(CryptoError):
    """Ciphertext, wrapped data key or binding (device id, key slot) failed authentication."""


class KekNotFoundError(CryptoError):
    """No KEK with the requested id and version is configured."""


class SealedError(CryptoError):
    """No KEK is configured: the service is sealed and cannot import, generate or release keys."""


class KekConfigError(CryptoError):
    """A KEK source (key file, environment variable) is malformed, unreadable or unsafely stored."""
