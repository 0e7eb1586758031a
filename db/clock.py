"""The database's clock, the one clock of every process.

Leases, quota days and "is this newer" comparisons are made by API and worker processes on
different machines; reading the time from the database they all share (in the transaction
that uses it) keeps a process with a wrong clock from stealing leases early or counting a
day's quota on the wrong day.
"""

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# SQLite's 'now' is UTC with milliseconds; PostgreSQL's clock_timestamp() is the wall time
# at the call (now() would be the start of the transaction, which may have waited for a lock).
_SQLITE_NOW = text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
_POSTGRES_NOW = text("SELECT clock_timestamp()")


async def db_now(session: AsyncSession) -> datetime:
    """The database's current time, timezone-aware UTC."""
    if session.get_bind().dialect.name == "sqlite":
        value = await session.scalar(_SQLITE_NOW)
        assert isinstance(value, str)
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    stamp = await session.scalar(_POSTGRES_NOW)
    assert isinstance(stamp, datetime)
    return stamp.astimezone(UTC)
