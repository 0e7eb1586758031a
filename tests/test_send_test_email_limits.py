"""sendTestEmail's limits: 10 a minute per account (counted in Redis), refused on a channel
that is not active, and counted in the channel's daily quota; each refusal sends nothing
and changes nothing."""

import asyncio
import re
from typing import Any

from sqlalchemy import String, cast, literal, select

from db import models
from graph.rate_limits import TEST_EMAILS_PER_MINUTE
from tests.sending_stack import SendingStack, campaign_for, stack
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, pk_of

__all__ = ["stack"]


async def send_test(client: GraphQLClient, campaign_id: str, email: str) -> dict[str, Any]:
    return await client.mutate(
        "sendTestEmail", {"campaignId": campaign_id, "email": email}, "messageId"
    )


async def used_today(client: GraphQLClient) -> list[int]:
    async with client.server.db.read() as session:
        found = await session.scalars(
            select(models.ChannelUsage.used)
            .join(
                models.EmailChannel,
                models.ChannelUsage.channel_key
                == literal("email:") + cast(models.EmailChannel.id, String),
            )
            .where(models.EmailChannel.account_id == client.account_id)
        )
        return list(found)


async def test_at_most_ten_a_minute_per_account(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 1)
    sent = await asyncio.gather(
        *(send_test(client, campaign_id, f"t{n}@example.test") for n in range(10))
    )
    assert [p["userErrors"] for p in sent] == [[]] * TEST_EMAILS_PER_MINUTE
    before = await client.snapshot()

    refused = await send_test(client, campaign_id, "one-more@example.test")

    assert refused["messageId"] is None
    (error,) = refused["userErrors"]
    assert (error["code"], error["field"]) == ("RATE_LIMITED", None)
    assert re.fullmatch(
        r"At most 10 test emails per 60 seconds per account; try again in \d+ seconds\.",
        error["message"],
    )
    assert await client.snapshot() == before
    assert len(smtp_sink.messages) == TEST_EMAILS_PER_MINUTE
    assert await used_today(client) == [TEST_EMAILS_PER_MINUTE]
    # Counted per account: another account is not limited by this one.
    other = await stack.client("Other")
    other_campaign = await campaign_for(other, smtp_sink, 1)
    assert (await send_test(other, other_campaign, "x@example.test"))["userErrors"] == []


async def test_refused_on_a_suspended_channel(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 1)
    data = await client.gql("{ emailChannels { edges { node { id } } } }")
    channel_id = data["emailChannels"]["edges"][0]["node"]["id"]
    for status in ("SUSPENDED", "PENDING"):
        updated = await client.mutate(
            "updateEmailChannel", {"id": channel_id, "status": status}, "emailChannel { id }"
        )
        assert updated["userErrors"] == []
        before = await client.snapshot()
        assert await send_test(client, campaign_id, "a@example.test") == {
            "messageId": None,
            "userErrors": [
                {
                    "field": ["campaignId"],
                    "code": "CHANNEL_SUSPENDED",
                    "message": f"The campaign's channel is {status.lower()}: it sends nothing "
                    "until it is active.",
                }
            ],
        }
        assert await client.snapshot() == before
    assert smtp_sink.messages == []


async def test_counted_in_the_channels_daily_quota(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 1, channel={"dailyQuota": 2})
    for n in range(2):
        assert (await send_test(client, campaign_id, f"t{n}@example.test"))["userErrors"] == []
    assert await used_today(client) == [2]
    before = await client.snapshot()

    assert await send_test(client, campaign_id, "t3@example.test") == {
        "messageId": None,
        "userErrors": [
            {
                "field": ["campaignId"],
                "code": "QUOTA_EXCEEDED",
                "message": "The channel's daily quota of 2 messages is used up for today "
                "(UTC); test emails count in it.",
            }
        ],
    }
    assert await client.snapshot() == before
    assert await used_today(client) == [2]
    assert len(smtp_sink.messages) == 2
    assert pk_of(campaign_id, "Campaign") > 0
