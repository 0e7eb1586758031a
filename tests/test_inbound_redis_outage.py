"""A reply is kept and applied even when Redis is down: announcing the changed leads
comes after the commit, and its failure is logged, not answered to Twilio as an error."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.inbound_stack import channel_of, inbound, lead_at, reply_to, stored_reply, totals
from tests.messaging_stack import leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import FINAL_STATUSES, SendingStack, act, sending_stack, wait_until
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["twilio_standin"]


@pytest.fixture
async def tcp_stack(tmp_path: Path) -> AsyncIterator[SendingStack]:
    async with sending_stack(tmp_path, redis="tcp") as made:
        yield made


async def test_a_reply_while_redis_is_down(
    tcp_stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await tcp_stack.client()
    code = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign = (await messaging_campaign(client, code, leads(1)))["id"]
    await act(client, "startCampaign", campaign)
    assert (await wait_until(client, campaign, *FINAL_STATUSES))["execution"][
        "status"
    ] == "COMPLETED"
    sender = next(s for s in twilio_standin.senders if not s.startswith("whatsapp:"))
    channel = await channel_of(client, code, twilio_standin.auth_token, sender)
    assert tcp_stack.redis is not None
    await tcp_stack.redis.kill()

    params = inbound("+14155550000", "Still there?", to=sender)
    await reply_to(channel, params)
    assert await stored_reply(client, params["MessageSid"]) is not None
    assert (await lead_at(client, campaign, "+14155550000"))["status"] == "REPLIED"
    assert await totals(client, campaign) == (1, 0)
    await client.http.aclose()
