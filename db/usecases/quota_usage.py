"""A channel's usage against its quota, in the buckets of its window (db/quota.py).
Every claim on the channel locks the current bucket's row, so claims of all workers take
turns and the quota holds across them."""

from collections.abc import Mapping, Set
from datetime import datetime

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.dialect import insert_for
from db.models import ChannelUsage
from db.quota import QuotaWindow, period_of, window_from


async def used_many(
    session: AsyncSession, keys: Set[tuple[str, QuotaWindow]], now: datetime
) -> dict[tuple[str, QuotaWindow], int]:
    """Messages in each channel's window at `now`; locks their current buckets (in one
    order for every claimer) until the transaction ends."""
    if not keys:
        return {}
    buckets = sorted({(key, period_of(window, now)) for key, window in keys})
    await session.execute(
        insert_for(session, ChannelUsage).on_conflict_do_nothing(),
        [{"channel_key": key, "period": period, "used": 0} for key, period in buckets],
    )
    current = {
        (row.channel_key, row.period): row.used
        for row in await session.execute(
            select(ChannelUsage.channel_key, ChannelUsage.period, ChannelUsage.used)
            .where(
                ChannelUsage.channel_key.in_({key for key, _ in buckets}),
                ChannelUsage.period.in_({period for _, period in buckets}),
            )
            .order_by(ChannelUsage.channel_key, ChannelUsage.period)
            .with_for_update()
        )
    }
    out: dict[tuple[str, QuotaWindow], int] = {}
    moving = sorted(key for key, window in keys if window is not QuotaWindow.UTC_DAY)
    for key, window in keys:  # a UTC day's window is its current bucket
        if window is QuotaWindow.UTC_DAY:
            out[(key, window)] = int(current[(key, period_of(window, now))] or 0)
    if moving:
        sums = dict(
            (
                await session.execute(
                    select(ChannelUsage.channel_key, func.sum(ChannelUsage.used))
                    .where(
                        ChannelUsage.channel_key.in_(moving),
                        ChannelUsage.period >= window_from(QuotaWindow.MOVING_24H, now),
                    )
                    .group_by(ChannelUsage.channel_key)
                )
            ).all()
        )
        out.update({(key, QuotaWindow.MOVING_24H): int(sums.get(key) or 0) for key in moving})
    return out


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


async def take_many(
    session: AsyncSession, taken: Mapping[tuple[str, QuotaWindow], int], now: datetime
) -> None:
    """Counts messages in each channel's current bucket (made by `used_many`)."""
    table = ChannelUsage.__table__
    assert isinstance(table, Table)
    counts = [
        {"b_key": key, "b_period": period_of(window, now), "n": n}
        for (key, window), n in taken.items()
        if n
    ]
    if counts:
        await session.execute(
            update(table)
            .where(
                table.c.channel_key == bindparam("b_key"), table.c.period == bindparam("b_period")
            )
            .values(used=table.c.used + bindparam("n")),
            counts,
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
