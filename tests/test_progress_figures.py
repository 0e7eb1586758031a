"""What came back after sending, in live progress: a WhatsApp/SMS campaign's delivered,
read, replied and converted figures and its two rates, exactly, in executionProgress and
campaignUpdates; an email campaign has none of them."""

import asyncio
from typing import Any

from jobs.lead_events import announce
from tests.live_leads import FIGURES, mark_delivered, set_counters, stack_redis
from tests.messaging_stack import campaign_leads, leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, act, campaign_for, stack, wait_until
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, pk_of
from tests.test_progress_subscriptions import receive, socket, subscribe
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]

CAMPAIGN_UPDATES = """
subscription { campaignUpdates { campaignId totalSent totalDelivered totalRead totalReplied
  totalConverted replyRate conversionRate } }
"""


async def figures(client: GraphQLClient, campaign_id: str) -> dict[str, Any]:
    """The first message of executionProgress: the snapshot."""
    async with socket(client) as ws:
        await subscribe(ws, "p", FIGURES, {"id": campaign_id})
        message = await receive(ws)
    assert message["type"] == "next", message
    snapshot: dict[str, Any] = message["payload"]["data"]["executionProgress"]
    return snapshot


async def test_a_sent_campaigns_figures_and_rates_exactly(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign = await messaging_campaign(client, channel, leads(7))
    draft = await figures(client, campaign["id"])
    assert draft == {
        "campaignId": campaign["id"],
        "totalSent": 0,
        "totalDelivered": 0,
        "totalRead": 0,
        "totalReplied": 0,
        "totalConverted": 0,
        "replyRate": 0.0,  # nothing sent: 0, not an error
        "conversionRate": 0.0,
    }
    await act(client, "startCampaign", campaign["id"])
    await wait_until(client, campaign["id"], "COMPLETED")
    await set_counters(
        stack,
        campaign["id"],
        total_delivered=6,
        total_read=4,
        total_replied=3,
        total_converted=1,
    )
    assert await figures(client, campaign["id"]) == {
        "campaignId": campaign["id"],
        "totalSent": 7,
        "totalDelivered": 6,
        "totalRead": 4,
        "totalReplied": 3,
        "totalConverted": 1,
        "replyRate": 42.86,  # 3 / 7
        "conversionRate": 14.29,  # 1 / 7
    }


async def test_list_views_get_the_figures_after_an_announcement(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign = await messaging_campaign(client, channel, leads(4))
    await act(client, "startCampaign", campaign["id"])
    await wait_until(client, campaign["id"], "COMPLETED")
    first = (await campaign_leads(client, campaign["id"]))[0]
    async with socket(client) as ws, stack_redis(stack) as redis:
        await subscribe(ws, "u", CAMPAIGN_UPDATES)
        await asyncio.sleep(0.2)
        await mark_delivered(stack, first["id"], read=True)
        await set_counters(stack, campaign["id"], total_replied=1)
        changed = {pk_of(campaign["id"], "Campaign"): [pk_of(first["id"], "Lead")]}
        await announce(stack.server.db, redis, client.account_id, changed)
        message = await receive(ws)
    assert message["payload"]["data"]["campaignUpdates"] == {
        "campaignId": campaign["id"],
        "totalSent": 4,
        "totalDelivered": 1,
        "totalRead": 1,
        "totalReplied": 1,
        "totalConverted": 0,
        "replyRate": 25.0,
        "conversionRate": 0.0,
    }


async def test_an_email_campaign_has_no_lead_figures(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 3)
    await act(client, "startCampaign", campaign_id)
    await wait_until(client, campaign_id, "COMPLETED")
    assert await figures(client, campaign_id) == {
        "campaignId": campaign_id,
        "totalSent": 3,
        "totalDelivered": None,
        "totalRead": None,
        "totalReplied": None,
        "totalConverted": None,
        "replyRate": None,
        "conversionRate": None,
    }
