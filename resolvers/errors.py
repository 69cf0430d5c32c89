"""Errors a caller can act on. Each carries a code from shared/api/errors.md."""

from __future__ import annotations

import re
from typing import Any

# What key material looks like inside text: a run of hex digits as long as a key (a DES key has 16). Errors
# and audit details that may quote what a user typed drop such runs.
KEY_LIKE = re.compile(r"[0-9A-Fa-f]{16,}")


class KmsError(Exception):
    """An error whose message is safe to show and whose ``code`` is part of the public API."""

    code = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class Unauthenticated(KmsError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Please log in.") -> None:
        super().__init__(message)


class Forbidden(KmsError):
    code = "FORBIDDEN"

    def __init__(self, message: str = "Your role does not allow this.") -> None:
        super().__init__(message)


class NotFound(KmsError):
    code = "NOT_FOUND"

    def __init__(self, what: str = "Object") -> None:
        super().__init__(f"{what} not found.")


class BadInput(KmsError):
    code = "BAD_USER_INPUT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class PasswordChangeRequired(KmsError):
    code = "PASSWORD_CHANGE_REQUIRED"

    def __init__(self) -> None:
        super().__init__("Please change your password before you continue.")


class RateLimited(KmsError):
    code = "RATE_LIMITED"

    def __init__(self, retry_after: int, message: str = "Too many attempts. Please wait and try again.") -> None:
        super().__init__(message, retryAfter=retry_after)


def lost_to_concurrent_change(error: BaseException) -> str | None:
    """The SQLSTATE when ``error`` (or what caused it) is the database rolling back a transaction that lost to a
    concurrent one (class 40: a deadlock or a serialization failure): nothing of it was written, and the same
    request is likely to succeed again."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith("40"):
            return sqlstate
        current = current.__cause__ or current.__context__
    return None


def _unique_violation(error: BaseException) -> BaseException | None:
    """PostgreSQL's unique-violation error (asyncpg, SQLSTATE 23505) inside ``error`` or what caused it."""
    current: BaseException | None = error
    while current is not None:
        for cause in (current, *(a for a in current.args if isinstance(a, BaseException))):
            if getattr(cause, "sqlstate", None) == "23505":
                return cause
        current = current.__cause__
    return None


def duplicate_of(error: BaseException, table: str, *columns: str) -> bool:
    """Whether ``error`` is the database refusing a second row with the same ``columns`` in ``table`` (a unique
    constraint over exactly those columns), and not some other integrity error (a failing audit store, a
    foreign key), which must not be reported as a taken name."""
    cause = _unique_violation(error)
    if cause is not None:  # PostgreSQL: 'Key (a, b)=(...) already exists.'
        detail = str(getattr(cause, "detail", "") or "")
        return getattr(cause, "table_name", None) == table and detail.startswith(f"Key ({', '.join(columns)})=")
    # SQLite: "UNIQUE constraint failed: table.a, table.b"
    return str(error).endswith("UNIQUE constraint failed: " + ", ".join(f"{table}.{c}" for c in columns))


def duplicate_in(error: BaseException, index: str) -> bool:
    """Whether ``error`` is the database refusing a row that the unique index ``index`` already holds (for an
    index over expressions, whose columns ``duplicate_of`` cannot name)."""
    cause = _unique_violation(error)
    if cause is not None:
        return getattr(cause, "constraint_name", None) == index
    return str(error).endswith(f"UNIQUE constraint failed: index '{index}'")  # SQLite
