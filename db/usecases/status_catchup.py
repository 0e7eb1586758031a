"""Leads whose status callbacks never came (Twilio sends each once, retries once, and a
lost one is never resent): the catch-up job fetches their messages and settles them.

A lead is waiting when it is SENT with a message sid, nothing settled it (no delivered,
read, reply or failure), it was sent more than `after` ago and less than `give_up` ago,
and it was not fetched in the last `after`. Taking leads marks them fetched
(`status_checked_at`) in the same statement that checks they were not, so two workers'
runs never fetch one lead twice; WhatsApp/SMS campaigns only, of the last `give_up`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import ChannelType, DeliveryStatus
from db.models import Campaign, CampaignExecution, Delivery, TwilioChannel
from db.secrets import reveal


@dataclass(frozen=True)
class Waiting:
    lead_id: int
    message_sid: str
    channel_id: int
    account_id: int
    channel_type: ChannelType


@dataclass(frozen=True)
class ChannelAccess:
    account_sid: str
    auth_token: str
    api_base_url: str


async def take_waiting(
    session: AsyncSession,
    now: datetime,
    after: timedelta,
    give_up: timedelta,
    limit: int,
    per_channel: int,
) -> list[Waiting]:
    """Up to `limit` waiting leads, at most `per_channel` of one channel, the channels in
    turn (each one's oldest first), marked fetched at `now`: one channel's backlog never
    keeps another's leads waiting."""
    recent = (
        select(Campaign.id)
        .join(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
        .where(
            Campaign.twilio_channel_id.is_not(None),
            or_(
                CampaignExecution.completed_at.is_(None),
                CampaignExecution.completed_at > now - give_up,
            ),
        )
    )
    not_fetched_lately = or_(
        Delivery.status_checked_at.is_(None), Delivery.status_checked_at < now - after
    )
    ranked = (
        select(
            Delivery.id,
            Delivery.message_id,
            Campaign.twilio_channel_id,
            Campaign.account_id,
            Campaign.channel_type,
            func.row_number()
            .over(partition_by=Campaign.twilio_channel_id, order_by=Delivery.id)
            .label("turn"),
        )
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.campaign_id.in_(recent.scalar_subquery()),
            Delivery.status == DeliveryStatus.SENT,
            Delivery.message_id != "",
            Delivery.delivered_at.is_(None),
            Delivery.read_at.is_(None),
            Delivery.replied_at.is_(None),
            Delivery.sent_at < now - after,
            Delivery.sent_at > now - give_up,
            not_fetched_lately,
        )
        .subquery()
    )
    found = (
        await session.execute(
            select(ranked)
            .where(ranked.c.turn <= per_channel)
            .order_by(ranked.c.turn, ranked.c.id)
            .limit(limit)
        )
    ).all()
    if not found:
        return []
    taken = set(
        (
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_([row.id for row in found]), not_fetched_lately)
                .values(status_checked_at=now)
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            )
        ).scalars()
    )
    return [
        Waiting(row.id, row.message_id, row.twilio_channel_id, row.account_id, row.channel_type)
        for row in found
        if row.id in taken
    ]


async def channel_access(session: AsyncSession, channel_ids: list[int]) -> dict[int, ChannelAccess]:
    """The credentials of the channels, by id (decrypted: keep them out of logs)."""
    rows = await session.execute(
        select(
            TwilioChannel.id,
            TwilioChannel.account_sid,
            TwilioChannel.auth_token,
            TwilioChannel.api_base_url,
        ).where(TwilioChannel.id.in_(channel_ids))
    )
    return {
        row.id: ChannelAccess(row.account_sid, reveal(session, row.auth_token), row.api_base_url)
        for row in rows
    }
