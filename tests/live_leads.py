"""Helpers for the live lead tests: the stack's Redis from the test process, what a status
callback or a reply would have written (the webhooks are tested on their own), and the
leadUpdates subscription."""

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection

from db.models import CampaignExecution, Delivery
from jobs.redis_pool import connect_queue
from tests.sending_stack import SendingStack
from tests.support import pk_of
from tests.test_progress_subscriptions import receive

LEAD_UPDATES = """
subscription($id: ID!) {
  leadUpdates(campaignId: $id) {
    campaignId
    leads { id phoneNumber status messageSid sentAt deliveredAt readAt repliedAt errorCode }
  }
}
"""
FIGURES = """
subscription($id: ID!) {
  executionProgress(campaignId: $id) {
    campaignId totalSent totalDelivered totalRead totalReplied totalConverted
    replyRate conversionRate
  }
}
"""
AT = datetime(2026, 11, 29, 7, 30, tzinfo=UTC)


@contextlib.asynccontextmanager
async def stack_redis(stack: SendingStack) -> AsyncIterator[ArqRedis]:
    """A connection of the test's own to the stack's Redis, as another process has."""
    redis = await connect_queue(stack.env["CLARION_REDIS_URL"])
    try:
        yield redis
    finally:
        await redis.aclose()


async def mark_delivered(stack: SendingStack, lead_id: str, read: bool = False) -> None:
    """What a status callback writes: the lead's time, and its execution's counters."""
    pk = pk_of(lead_id, "Lead")
    async with stack.server.db.write() as session:
        row = await session.get_one(Delivery, pk)
        row.delivered_at = AT
        counters: dict[str, Any] = {"total_delivered": CampaignExecution.total_delivered + 1}
        if read:
            row.read_at = AT
            counters["total_read"] = CampaignExecution.total_read + 1
        await session.execute(
            update(CampaignExecution)
            .where(CampaignExecution.campaign_id == row.campaign_id)
            .values(**counters)
        )


async def set_counters(stack: SendingStack, campaign_id: str, **counters: int) -> None:
    async with stack.server.db.write() as session:
        await session.execute(
            update(CampaignExecution)
            .where(CampaignExecution.campaign_id == pk_of(campaign_id, "Campaign"))
            .values(**counters)
        )


async def lead_update(ws: ClientConnection, within: float = 30) -> list[dict[str, Any]]:
    """The leads of the next leadUpdates message."""
    message = await receive(ws, within)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    leads: list[dict[str, Any]] = message["payload"]["data"]["leadUpdates"]["leads"]
    return leads


async def nothing_within(ws: ClientConnection, seconds: float) -> bool:
    try:
        await receive(ws, within=seconds)
    except TimeoutError:
        return True
    return False
