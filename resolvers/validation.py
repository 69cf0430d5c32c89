"""Values several domains take in the same form: a display name and a mail language."""

from __future__ import annotations

from resolvers.email_rendering import LANGUAGES
from resolvers.errors import BadInput


def checked_name(value: str, field: str = "name") -> str:
    """A name as people read it: trimmed, 1 to 200 characters."""
    value = value.strip()
    if not value or len(value) > 200:
        raise BadInput(field, "The name must have 1 to 200 characters.")
    return value


def checked_language(value: str) -> str:
    """One of the languages mails and the console are written in."""
    if value not in LANGUAGES:
        raise BadInput("language", "The language must be one of EN, DE, ES, SV.")
    return value
