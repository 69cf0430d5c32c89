"""``SecretBytes``: key material that does not leak through repr, str, logs or tracebacks."""

from __future__ import annotations

import hmac
from typing import NoReturn


class SecretBytes:
    """Immutable holder of secret bytes whose text forms are redacted.

    It deliberately is not a ``bytes`` subclass: ``bytes`` methods such as ``hex()`` or slicing would hand
    out the secret without the caller saying so. Use ``reveal()`` where the plaintext is really needed, so
    every such place is greppable.

    Args:
        value: The secret bytes.
    """

    __slots__ = ("_value",)

    def __init__(self, value: bytes | bytearray | memoryview) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError("SecretBytes takes bytes, bytearray or memoryview.")
        self._value = bytes(value)

    def reveal(self) -> bytes:
        """Return the plaintext bytes."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"SecretBytes(<redacted {len(self._value)} bytes>)"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        # f"{key:x}" must not become a way around the redaction.
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretBytes):
            # Constant time, so equality checks do not leak a matching prefix through timing.
            return hmac.compare_digest(self._value, other._value)
        return NotImplemented

    def __hash__(self) -> int:
        # A hash of a key is an oracle for it; secrets are not dict keys.
        raise TypeError("SecretBytes is not hashable.")

    def __reduce__(self) -> NoReturn:
        # Pickling would write the plaintext to wherever the pickle goes (caches, task queues).
        raise TypeError("SecretBytes cannot be pickled.")


def as_bytes(value: bytes | SecretBytes) -> bytes:
    """Return the raw bytes of ``value``, revealing it if it is a ``SecretBytes``.

    Args:
        value: Plain bytes or a ``SecretBytes``.

    Returns:
        The underlying bytes.
    """
    return value.reveal() if isinstance(value, SecretBytes) else bytes(value)
