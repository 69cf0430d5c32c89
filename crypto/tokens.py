"""Opaque secret tokens: API tokens, sessions, invitation, reset and download links.

A token is ``<prefix>_<base64url(32 random bytes)>`` without padding, for example
``kms_pat_3q2-7wAAAAC...``. Only its SHA-256 digest is stored; the token itself is
shown to its owner once. The prefix tells people (and secret scanners) what a
leaked string is.

Why a plain, unsalted SHA-256 rather than a salted slow hash as for passwords:
the token carries 256 bits of entropy from :mod:`secrets`, so brute force over
the token space is hopeless whatever the hash speed, and precomputed tables are
useless because no token is ever chosen by a person or reused. A deterministic
digest also lets the service find a token's row by indexed lookup on the digest
instead of trying every stored hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

__all__ = [
    "DISPLAY_PREFIX_LENGTH",
    "TOKEN_BYTES",
    "constant_time_equals",
    "display_prefix",
    "new_token",
    "token_digest",
]

#: Random bytes in a token (256 bits).
TOKEN_BYTES: Final = 32
#: Characters of a token shown in listings and logs (at least).
DISPLAY_PREFIX_LENGTH: Final = 12
#: len(base64url(TOKEN_BYTES random bytes)) without padding.
_SECRET_LENGTH: Final = 43
#: Random characters always shown after a long prefix (4 chars = 24 bits).
_MIN_SECRET_CHARS_SHOWN: Final = 4


def new_token(prefix: str) -> tuple[str, str]:
    """Create a new random token and its digest.

    Args:
        prefix: What the token is for, e.g. ``"kms_pat"`` (personal API token),
            ``"kms_sess"``; letters, digits and underscores, not empty.

    Returns:
        ``(token, digest)``: the token to hand to its owner once, and the hex
        SHA-256 digest to store.

    Raises:
        ValueError: If the prefix is empty or contains other characters.
    """
    if not prefix or not all(c.isascii() and (c.isalnum() or c == "_") for c in prefix):
        raise ValueError(f"invalid token prefix {prefix!r}")
    secret = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode("ascii")
    token = f"{prefix}_{secret}"
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """Return the digest under which a token is stored and looked up.

    Args:
        token: The full token, prefix included.

    Returns:
        The lower-case hex SHA-256 of the token's UTF-8 bytes (64 characters).
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two secrets (tokens or digests) in constant time.

    Args:
        a: One value.
        b: The other value.

    Returns:
        ``True`` if they are equal; the time taken does not depend on where they differ.
    """
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def display_prefix(token: str) -> str:
    """Return the start of a token, to recognise it in listings without exposing it.

    Args:
        token: The full token.

    Returns:
        Its first ``DISPLAY_PREFIX_LENGTH`` characters, e.g. ``"kms_pat_3q2-"``, or
        the prefix plus 4 random characters when the prefix is longer: enough to
        tell tokens apart, far too little to use one (at least 190 of the 256
        random bits stay hidden). A string that is not shaped like a token shows
        at most half of its characters.
    """
    secret_start = len(token) - _SECRET_LENGTH
    if secret_start > 1 and token[secret_start - 1] == "_":
        return token[: max(DISPLAY_PREFIX_LENGTH, secret_start + _MIN_SECRET_CHARS_SHOWN)]
    return token[: min(DISPLAY_PREFIX_LENGTH, len(token) // 2)]
