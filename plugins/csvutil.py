"""Small helpers shared by the text formats."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from crypto.secret import SecretBytes

_NEEDS_QUOTES = frozenset('"\r\n')


def csv_row(values: Sequence[str], delimiter: str = ",") -> str:
    """Render one CSV row with proper quoting (RFC 4180 style, CRLF line end).

    Args:
        values: Field values.
        delimiter: Column delimiter.

    Returns:
        The row including its line terminator.
    """
    if len(values) > 1:
        # The common case (hex keys, serials, names): nothing to quote, so the csv module's answer is the join.
        # One join and a few scans of it instead of a check per field (a release writes a row per key).
        try:
            line = delimiter.join(values)
        except TypeError:  # not all text: the csv module formats the values
            line = None
        if line is not None and line.count(delimiter) == len(values) - 1 and not _NEEDS_QUOTES.intersection(line):
            return line + "\r\n"
    buffer = io.StringIO()
    # QUOTE_MINIMAL quotes fields holding the delimiter, quotes or line breaks, and doubles quotes.
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


def key_hex(key: SecretBytes, *, upper: bool = True) -> str:
    """Hex text of a key, the one place formats turn key material into text."""
    text = key.reveal().hex()
    return text.upper() if upper else text


def safe_name(text: str, fallback: str) -> str:
    """A file or meter name from free text: letters, digits, ``_`` and ``-`` only."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")
    return cleaned or fallback
