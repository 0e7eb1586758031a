"""Relay connections sliced in SQL by keyset on id, newest first, at most 100 a page."""

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import Select, func, select

from db.engine import Database
from graph.errors import ClientError
from graph.ids import decode_as, encode_id

T = TypeVar("T")
MAX_PAGE = 100
DEFAULT_PAGE = 20


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow the last edge.")
    has_previous_page: bool = strawberry.field(description="More items precede the first edge.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge.")


@strawberry.type(description="An item and its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Pass as `after` or `before` to page from here.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, newest first.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    count_query: strawberry.Private[Select[Any]]
    db: strawberry.Private[Database]

    @strawberry.field(description="How many items the whole list holds (all pages).")
    async def total_count(self) -> int:
        async with self.db.read() as session:
            count = await session.scalar(
                select(func.count()).select_from(self.count_query.order_by(None).subquery())
            )
        return count or 0


def _cursor_id(cursor: str, name: str) -> int:
    ident = decode_as(cursor, "Cursor")
    if ident is None:
        raise ClientError(f"`{name}` is not a cursor from this list.")
    return ident


async def paginate(
    db: Database,
    stmt: Select[Any],
    id_column: Any,
    to_node: Callable[[Any], T],
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[T]:
    """Slices `stmt` (a select of one entity) by keyset; `id_column` orders it."""
    if first is not None and last is not None:
        raise ClientError("Pass `first` or `last`, not both.")
    size = first if last is None else last
    size = DEFAULT_PAGE if size is None else size
    if not 0 <= size <= MAX_PAGE:
        raise ClientError(f"Page size must be between 0 and {MAX_PAGE}.")
    window = stmt
    if after is not None:
        window = window.where(id_column < _cursor_id(after, "after"))
    if before is not None:
        window = window.where(id_column > _cursor_id(before, "before"))
    backwards = last is not None
    window = window.order_by(id_column.asc() if backwards else id_column.desc()).limit(size + 1)
    async with db.read() as session:
        rows: Sequence[Any] = (await session.scalars(window)).all()
    more = len(rows) > size
    rows = list(rows[:size])
    if backwards:
        rows.reverse()
    edges = [Edge(cursor=encode_id("Cursor", row.id), node=to_node(row)) for row in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=more if not backwards else before is not None,
            has_previous_page=more if backwards else after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count_query=stmt,
        db=db,
    )
