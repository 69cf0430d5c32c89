"""Types shared by every domain: page info and the generic connection."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

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

    @strawberry.field
    async def total_count(self) -> int:
        return await self._page.total_count()

    @classmethod
    def of(cls, page: Page[Any], nodes: list[T]) -> Connection[T]:
        return cls(
            nodes=nodes,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            _page=page,
        )
