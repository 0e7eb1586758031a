"""A channel's usage against its quota, in the buckets of its window (db/quota.py).
Every claim on the channel locks the current bucket's row, so claims of all workers take
turns and the quota holds across them."""

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.dialect import insert_for
from db.models import ChannelUsage
from db.quota import QuotaWindow, period_of, window_from


async def used(session: AsyncSession, key: str, window: QuotaWindow, now: datetime) -> int:
    """Messages in the window at `now`; locks the current bucket until the transaction
    ends."""
    period = period_of(window, now)
    await _bucket(session, key, period)
    await session.execute(
        select(ChannelUsage.used)
        .where(ChannelUsage.channel_key == key, ChannelUsage.period == period)
        .with_for_update()
    )
    total = await session.scalar(
        select(func.sum(ChannelUsage.used)).where(
            ChannelUsage.channel_key == key, ChannelUsage.period >= window_from(window, now)
        )
    )
    return int(total or 0)


async def oldest(
    session: AsyncSession, key: str, window: QuotaWindow, now: datetime
) -> datetime | None:
    """The start of the oldest bucket with messages in the window."""
    return await session.scalar(
        select(func.min(ChannelUsage.period)).where(
            ChannelUsage.channel_key == key,
            ChannelUsage.period >= window_from(window, now),
            ChannelUsage.used > 0,
        )
    )


async def take(session: AsyncSession, key: str, window: QuotaWindow, now: datetime, n: int) -> None:
    """Counts `n` messages in the current bucket."""
    period = period_of(window, now)
    await _bucket(session, key, period)
    await session.execute(
        update(ChannelUsage)
        .where(ChannelUsage.channel_key == key, ChannelUsage.period == period)
        .values(used=ChannelUsage.used + n)
    )


async def give_back(
    session: AsyncSession, key: str, window: QuotaWindow, now: datetime, n: int
) -> None:
    """Returns `n` messages never sent to the newest bucket in the window holding as many
    (a batch released just after a bucket turned was counted in the one before)."""
    if n <= 0:
        return
    newest = await session.scalar(
        select(func.max(ChannelUsage.period)).where(
            ChannelUsage.channel_key == key,
            ChannelUsage.period >= window_from(window, now),
            ChannelUsage.used >= n,
        )
    )
    if newest is None:
        return
    await session.execute(
        update(ChannelUsage)
        .where(ChannelUsage.channel_key == key, ChannelUsage.period == newest)
        .values(used=ChannelUsage.used - n)
    )


async def _bucket(session: AsyncSession, key: str, period: datetime) -> None:
    """Makes the bucket's row if it is not there yet."""
    await session.execute(
        insert_for(session, ChannelUsage)
        .values(channel_key=key, period=period, used=0)
        .on_conflict_do_nothing()
    )
