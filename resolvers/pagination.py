"""Keyset ("cursor") pagination: a cursor holds the sort values of the last row, so pages stay stable
under inserts and no OFFSET scan is needed."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from resolvers.errors import BadInput

M = TypeVar("M", bound=Model)
T = TypeVar("T")
MAX_PAGE_SIZE = 500


@dataclass
class Page(Generic[T]):
    """A page of rows (model objects, or plain rows from a hand-written statement)."""

    nodes: list[T]
    has_next_page: bool
    end_cursor: str | None
    query: QuerySet[Any] | None  # the filtered query, for totalCount on demand (None: counter is set)
    counter: Callable[[], Awaitable[int]] | None = None  # a cheaper exact count, where one exists
    known_total: int | None = None  # counted with the page already

    async def total_count(self) -> int:
        if self.known_total is not None:
            return self.known_total
        if self.counter is not None:
            return await self.counter()
        assert self.query is not None, "a page needs a query or a counter"
        return await self.query.count()


def page_size(first: int | None) -> int:
    """The page size a client asked for (50 by default), within 0..MAX_PAGE_SIZE."""
    size = 50 if first is None else first
    if size < 0 or size > MAX_PAGE_SIZE:
        raise BadInput("first", f"first must be between 0 and {MAX_PAGE_SIZE}.")
    return size


def encode_cursor(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, UUID) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise BadInput("after", "The cursor is not valid.") from None
    if not isinstance(values, list) or len(values) != size:
        raise BadInput("after", "The cursor is not valid.")
    return values


def cursor_text(value: object, max_length: int | None) -> bool:
    """Whether a cursor value can stand for a text column of ``max_length``: a string of at most that length
    without NUL (PostgreSQL refuses NUL in text; a cursor made up by hand may hold anything)."""
    return isinstance(value, str) and len(value) <= (max_length or 10_000) and "\x00" not in value


def _typed(model: type[Model], order: tuple[str, ...], values: list[Any]) -> list[Any]:
    """The cursor's values as the sort fields' types; a value of another type (a cursor made up or edited
    by hand) is refused as bad input instead of failing in the database."""
    typed: list[Any] = []
    for name, value in zip(order, values, strict=True):
        field = model._meta.fields_map[name.lstrip("-")]
        if value is None and field.null:
            typed.append(None)
            continue
        if field.field_type is bool:
            fits = isinstance(value, bool)
        elif field.field_type in (int, float):  # a number a 64-bit column holds
            fits = isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 2**63
        else:  # text, and what the cursor holds as text: ids, times
            fits = cursor_text(value, getattr(field, "max_length", None))
        if not fits:
            raise BadInput("after", "The cursor is not valid.")
        try:
            typed.append(field.to_python_value(value))
        except (ValueError, TypeError, ArithmeticError):
            raise BadInput("after", "The cursor is not valid.") from None
    return typed


def _after(order: tuple[str, ...], values: list[Any]) -> Q:
    """Rows strictly after ``values`` in ``order``: (a > x) or (a = x and b > y) ..."""
    condition: Q | None = None
    for index in range(len(order) - 1, -1, -1):
        field = order[index].lstrip("-")
        op = "lt" if order[index].startswith("-") else "gt"
        step = Q(**{f"{field}__{op}": values[index]})
        if condition is not None:
            step = step | (Q(**{field: values[index]}) & condition)
        condition = step
    assert condition is not None
    return condition


async def paginate(query: QuerySet[M], order: tuple[str, ...], *, first: int | None, after: str | None) -> Page[M]:
    """One page of ``query`` sorted by ``order`` (the last field must be unique, e.g. the id)."""
    first = page_size(first)
    page_query = query
    if after:
        values = _typed(query.model, order, decode_cursor(after, len(order)))
        page_query = page_query.filter(_after(order, values))
    rows = list(await page_query.order_by(*order).limit(first + 1))
    has_next = len(rows) > first
    rows = rows[:first]
    cursor = encode_cursor([getattr(rows[-1], f.lstrip("-")) for f in order]) if rows else None
    return Page(rows, has_next, cursor, query)
