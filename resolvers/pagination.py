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
MAX_PAGE_SIZE = 500


@dataclass
class Page(Generic[M]):
    nodes: list[M]
    has_next_page: bool
    end_cursor: str | None
    query: QuerySet[M]  # the filtered query, for totalCount on demand
    counter: Callable[[], Awaitable[int]] | None = None  # a cheaper exact count, where one exists

    async def total_count(self) -> int:
        return await (self.counter() if self.counter else self.query.count())


def _encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, UUID) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _decode(cursor: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise BadInput("after", "The cursor is not valid.") from None
    if not isinstance(values, list) or len(values) != size:
        raise BadInput("after", "The cursor is not valid.")
    return values


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
    first = 50 if first is None else first
    if first < 0 or first > MAX_PAGE_SIZE:
        raise BadInput("first", f"first must be between 0 and {MAX_PAGE_SIZE}.")
    page_query = query
    if after:
        page_query = page_query.filter(_after(order, _decode(after, len(order))))
    rows = list(await page_query.order_by(*order).limit(first + 1))
    has_next = len(rows) > first
    rows = rows[:first]
    cursor = _encode([getattr(rows[-1], f.lstrip("-")) for f in order]) if rows else None
    return Page(rows, has_next, cursor, query)
