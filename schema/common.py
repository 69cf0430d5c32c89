"""Types shared by every domain: page info and the generic connection."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

import strawberry

from resolvers.pagination import Page

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Connection(Generic[T]):
    """A page of results; ``totalCount`` is counted only when asked for."""

    nodes: list[T]
    page_info: PageInfo
    _page: strawberry.Private[Page[Any]]
    # The total when the page was counted with it (see schema.executor.PRELOADED)
    _preloaded: strawberry.Private[dict[str, Any] | None] = None

    @strawberry.field
    def total_count(self) -> int:
        if self._preloaded is not None:
            return cast(int, self._preloaded["total_count"])
        # Counted on demand: a coroutine, which graphql-core awaits. The field itself stays synchronous, so
        # a known total is answered without a task.
        return cast(int, self._page.total_count())

    @classmethod
    def of(cls, page: Page[Any], nodes: list[T]) -> Connection[T]:
        return cls(
            nodes=nodes,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            _page=page,
            _preloaded=None if page.known_total is None else {"total_count": page.known_total},
        )
