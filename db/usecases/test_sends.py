"""What `sendTestEmail` may do: only on an active channel, and each one counts in the
channel's daily quota like a campaign's message (so tests cannot be used to send past it)."""

from datetime import UTC, date, datetime, time

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.dialect import insert_for
from db.enums import EmailChannelStatus
from db.errors import DomainError, ErrorCode
from db.kinds.email import EmailSettings
from db.models import ChannelUsage, EmailChannel
from db.usecases.send_plan import SendPlan


async def check_sendable(session: AsyncSession, plan: SendPlan[EmailSettings], day: date) -> None:
    """CHANNEL_SUSPENDED or QUOTA_EXCEEDED, as the API checks before queueing the test."""
    await _check_active(session, plan.channel_id)
    used = await session.scalar(
        select(ChannelUsage.used).where(
            ChannelUsage.channel_key == plan.channel_key, ChannelUsage.period == _period(day)
        )
    )
    if (used or 0) >= plan.daily_quota:
        raise _quota_used_up(plan)


async def use_quota(session: AsyncSession, plan: SendPlan[EmailSettings], day: date) -> None:
    """Takes one message of today's quota (atomically: concurrent tests cannot overdraw)."""
    await _check_active(session, plan.channel_id)
    await session.execute(
        insert_for(session, ChannelUsage)
        .values(channel_key=plan.channel_key, period=_period(day), used=0)
        .on_conflict_do_nothing()
    )
    taken = await session.execute(
        update(ChannelUsage)
        .where(
            ChannelUsage.channel_key == plan.channel_key,
            ChannelUsage.period == _period(day),
            ChannelUsage.used < plan.daily_quota,
        )
        .values(used=ChannelUsage.used + 1)
    )
    if getattr(taken, "rowcount", 0) != 1:
        raise _quota_used_up(plan)


async def give_back(session: AsyncSession, plan: SendPlan[EmailSettings], day: date) -> None:
    """Returns the quota of a test that was never handed to the server."""
    await session.execute(
        update(ChannelUsage)
        .where(ChannelUsage.channel_key == plan.channel_key, ChannelUsage.period == _period(day))
        .values(used=ChannelUsage.used - 1)
    )


async def _check_active(session: AsyncSession, channel_id: int) -> None:
    status = await session.scalar(select(EmailChannel.status).where(EmailChannel.id == channel_id))
    if status is not EmailChannelStatus.ACTIVE:
        raise DomainError.one(
            ErrorCode.CHANNEL_SUSPENDED,
            f"The campaign's channel is {status}: it sends nothing until it is active.",
            "campaign_id",
        )


def _quota_used_up(plan: SendPlan[EmailSettings]) -> DomainError:
    return DomainError.one(
        ErrorCode.QUOTA_EXCEEDED,
        f"The channel's daily quota of {plan.daily_quota} messages is used up for today "
        "(UTC); test emails count in it.",
        "campaign_id",
    )


def _period(day: date) -> datetime:
    """The quota bucket of an email channel: the UTC day (db/quota.py)."""
    return datetime.combine(day, time(), UTC)
