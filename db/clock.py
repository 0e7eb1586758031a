"""The database's clock, the one clock of every process.

Leases, quota days and "is this newer" comparisons are made by API and worker processes on
different machines; reading the time from the database they all share (in the transaction
that uses it) keeps a process with a wrong clock from stealing leases early or counting a
day's quota on the wrong day.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, text
from sqlalchemy.ext.asyncio import AsyncSession

# SQLite's 'now' is UTC with milliseconds; PostgreSQL's clock_timestamp() is the wall time
# at the call (now() would be the start of the transaction, which may have waited for a lock).
_SQLITE_NOW = text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
_POSTGRES_NOW = text("SELECT clock_timestamp()")


async def db_now(session: AsyncSession) -> datetime:
    """The database's current time, timezone-aware UTC."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    return as_utc(await session.scalar(_SQLITE_NOW if sqlite else _POSTGRES_NOW))


def now_column(session: AsyncSession) -> ColumnElement[Any]:
    """The database's time as a column, to read it in a query that runs anyway (read it
    with `as_utc`)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%f", "now")
    return func.clock_timestamp()


def as_utc(value: object) -> datetime:
    """A value of `now_column`, timezone-aware UTC."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.astimezone(UTC)
