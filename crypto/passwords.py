"""Password hashing (argon2id) and the password policy.

Hashing uses libpass (the maintained passlib fork) with argon2id at the OWASP
Password Storage Cheat Sheet parameters: 19 MiB of memory, 2 iterations and a
parallelism of 1. Hashing is deliberately slow (tens of milliseconds) and so the
async API runs it in a worker thread; the argon2 C code releases the GIL, so the
event loop keeps serving other requests meanwhile.

Passwords are NFKC-normalised before hashing, verifying and policy checks
(NIST SP 800-63B 5.1.1.2), so the same password typed with composed or decomposed
Unicode characters matches. For ASCII passwords this is a no-op.

The policy (product manual): at least 12 characters, at most 1024 (so that long
passphrases of 128+ characters are accepted while multi-megabyte inputs cannot be
used for denial of service), upper- and lower-case letters, digits and special
(non-alphanumeric) characters, not one of the 10,000 most common passwords and not
containing the local part of the user's e-mail address.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from passlib.context import CryptContext

__all__ = [
    "ARGON2_MEMORY_COST",
    "ARGON2_PARALLELISM",
    "ARGON2_TIME_COST",
    "DUMMY_HASH",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "RULE_COMMON",
    "RULE_CONTAINS_EMAIL",
    "RULE_DIGIT",
    "RULE_LOWERCASE",
    "RULE_SPECIAL",
    "RULE_TOO_LONG",
    "RULE_TOO_SHORT",
    "RULE_UPPERCASE",
    "WeakPasswordError",
    "check_policy",
    "common_passwords",
    "hash_password",
    "hash_password_sync",
    "is_common_password",
    "needs_rehash",
    "validate_password",
    "verify_dummy",
    "verify_password",
    "verify_password_sync",
]

#: argon2id memory cost in KiB (19 MiB, OWASP minimum recommendation).
ARGON2_MEMORY_COST: Final = 19456
#: argon2id number of iterations.
ARGON2_TIME_COST: Final = 2
#: argon2id degree of parallelism (lanes).
ARGON2_PARALLELISM: Final = 1

MIN_PASSWORD_LENGTH: Final = 12
#: Upper bound on password length in characters; guards against hashing huge inputs.
MAX_PASSWORD_LENGTH: Final = 1024

RULE_TOO_SHORT: Final = f"must be at least {MIN_PASSWORD_LENGTH} characters long"
RULE_TOO_LONG: Final = f"must be at most {MAX_PASSWORD_LENGTH} characters long"
RULE_UPPERCASE: Final = "must contain an upper-case letter"
RULE_LOWERCASE: Final = "must contain a lower-case letter"
RULE_DIGIT: Final = "must contain a digit"
RULE_SPECIAL: Final = "must contain a special (non-alphanumeric) character"
RULE_COMMON: Final = "must not be a commonly used password"
RULE_CONTAINS_EMAIL: Final = "must not contain your e-mail address"

_COMMON_PASSWORDS_FILE: Final = "common_passwords.txt"
_MIN_EMAIL_LOCAL_PART: Final = 3

_context: Final = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=ARGON2_MEMORY_COST,
    argon2__time_cost=ARGON2_TIME_COST,
    argon2__parallelism=ARGON2_PARALLELISM,
)


def _normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


# --------------------------------------------------------------------------- hashing


def hash_password_sync(password: str) -> str:
    """Hash a password with argon2id, blocking the calling thread.

    Args:
        password: The plain-text password.

    Returns:
        A PHC-format string such as ``$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>``.

    Raises:
        ValueError: If the password is longer than ``MAX_PASSWORD_LENGTH`` characters.
    """
    password = _normalize(password)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"password {RULE_TOO_LONG}")
    return str(_context.hash(password))


def verify_password_sync(password: str, hashed: str) -> bool:
    """Check a password against a stored hash, blocking the calling thread.

    The comparison inside argon2 is constant-time. A malformed or unrecognised
    stored hash and an over-long password both verify as ``False`` (fail closed).

    Args:
        password: The plain-text password to check.
        hashed: The stored hash produced by :func:`hash_password`.

    Returns:
        ``True`` if the password matches the hash.
    """
    password = _normalize(password)
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return bool(_context.verify(password, hashed))
    except (ValueError, TypeError):
        return False


async def hash_password(password: str) -> str:
    """Hash a password with argon2id in a worker thread.

    Args:
        password: The plain-text password.

    Returns:
        The argon2id PHC-format hash string.

    Raises:
        ValueError: If the password is longer than ``MAX_PASSWORD_LENGTH`` characters.
    """
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(password: str, hashed: str) -> bool:
    """Check a password against a stored hash in a worker thread.

    Args:
        password: The plain-text password to check.
        hashed: The stored hash produced by :func:`hash_password`.

    Returns:
        ``True`` if the password matches the hash.
    """
    return await asyncio.to_thread(verify_password_sync, password, hashed)


def needs_rehash(hashed: str) -> bool:
    """Tell whether a stored hash should be replaced after a successful login.

    Args:
        hashed: The stored hash.

    Returns:
        ``True`` if the hash uses another algorithm or other argon2 parameters than
        the current ones (or cannot be parsed), so the caller should store
        ``hash_password(password)`` after the password has been verified.
    """
    try:
        return bool(_context.needs_update(hashed))
    except (ValueError, TypeError):
        return True


# ------------------------------------------------------------------ timing equalisation

DUMMY_HASH: str
"""Hash of a random secret, computed on first access (see ``__getattr__``)."""


@functools.cache
def _dummy_hash() -> str:
    # Nobody knows this password, so nothing ever verifies against the hash.
    return hash_password_sync(secrets.token_urlsafe(32))


if not TYPE_CHECKING:

    def __getattr__(name: str) -> str:
        # PEP 562 lazy module attribute: DUMMY_HASH costs one argon2 hash, paid on
        # first use rather than at import time.
        if name == "DUMMY_HASH":
            value = _dummy_hash()
            globals()["DUMMY_HASH"] = value
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _verify_dummy_sync(password: str) -> bool:
    verify_password_sync(password, _dummy_hash())
    return False


async def verify_dummy(password: str) -> bool:
    """Spend the time of a real password check, for logins with an unknown user.

    Call this when no account matches the submitted e-mail so that the response
    takes about as long as a wrong password for an existing account, and timing
    does not reveal which e-mail addresses are registered. Reading ``DUMMY_HASH``
    once at start-up moves the one-time cost of computing it out of the first
    such login.

    Args:
        password: The submitted password (verified against ``DUMMY_HASH``).

    Returns:
        Always ``False``.
    """
    return await asyncio.to_thread(_verify_dummy_sync, password)


# ------------------------------------------------------------------------------- policy


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the shipped list of the 10,000 most common passwords (lower-case).

    The list is read from ``crypto/common_passwords.txt`` on first call and cached.

    Returns:
        The common passwords as a frozen set of lower-case strings.
    """
    text = Path(__file__).with_name(_COMMON_PASSWORDS_FILE).read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _strip_non_letters(password: str) -> str:
    # Drop leading/trailing digits and specials: "Password123!" -> "password".
    start, end = 0, len(password)
    while start < end and not password[start].isalpha():
        start += 1
    while end > start and not password[end - 1].isalpha():
        end -= 1
    return password[start:end]


def is_common_password(password: str) -> bool:
    """Tell whether a password is, or is a decorated variant of, a common password.

    The comparison is case-insensitive, and also done with leading and trailing
    digits and special characters removed, so ``Password123!`` counts as common.

    Args:
        password: The plain-text password.

    Returns:
        ``True`` if the password is in the common-passwords list.
    """
    common = common_passwords()
    lowered = _normalize(password).casefold()
    if lowered in common:
        return True
    core = _strip_non_letters(lowered)
    return bool(core) and core in common


def _email_local_parts(email: str) -> list[str]:
    local = email.rsplit("@", 1)[0].strip().casefold()
    parts = [local]
    if "+" in local:  # sub-addressing: john+kms@example.com -> also "john"
        parts.append(local.split("+", 1)[0])
    return [part for part in parts if len(part) >= _MIN_EMAIL_LOCAL_PART]


def check_policy(password: str, email: str | None = None) -> list[str]:
    """Check a new password against the password policy.

    Args:
        password: The proposed plain-text password.
        email: The account's e-mail address, if known; the password must not
            contain its local part (when that has at least 3 characters).

    Returns:
        The violated rules as human-readable phrases (the ``RULE_*`` constants), in a
        stable order; an empty list means the password is acceptable.
    """
    password = _normalize(password)
    violations: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        violations.append(RULE_TOO_SHORT)
    if len(password) > MAX_PASSWORD_LENGTH:
        # Don't spend time on the other checks for an over-long input.
        violations.append(RULE_TOO_LONG)
        return violations
    if not any(c.isupper() for c in password):
        violations.append(RULE_UPPERCASE)
    if not any(c.islower() for c in password):
        violations.append(RULE_LOWERCASE)
    if not any(c.isdigit() for c in password):
        violations.append(RULE_DIGIT)
    if all(c.isalnum() for c in password):
        violations.append(RULE_SPECIAL)
    if is_common_password(password):
        violations.append(RULE_COMMON)
    if email:
        lowered = password.casefold()
        if any(part in lowered for part in _email_local_parts(_normalize(email))):
            violations.append(RULE_CONTAINS_EMAIL)
    return violations


class WeakPasswordError(ValueError):
    """A proposed password violates the password policy.

    Attributes:
        violations: The violated rules, as returned by :func:`check_policy`.
    """

    def __init__(self, violations: Sequence[str]) -> None:
        """Create the error.

        Args:
            violations: The violated rules, as returned by :func:`check_policy`.
        """
        self.violations: list[str] = list(violations)
        super().__init__("Password " + "; ".join(self.violations) + ".")


def validate_password(password: str, email: str | None = None) -> None:
    """Enforce the password policy.

    Args:
        password: The proposed plain-text password.
        email: The account's e-mail address, if known.

    Raises:
        WeakPasswordError: If any rule is violated; ``violations`` lists them.
    """
    violations = check_policy(password, email)
    if violations:
        raise WeakPasswordError(violations)
