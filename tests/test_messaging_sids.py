"""A create's answer whose sid is not a message sid (SM or MM and 32 hex digits) is not
trusted: the outcome is unknown, the lead is looked up in Twilio before it is sent again,
and the message found there (its real sid) is recorded, once. A worker sends to the
Twilio stand-in, which answers the first creates with the odd sid."""

from collections import Counter

import pytest

from tests.messaging_stack import campaign_leads, leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, act, stack, wait_until
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]


@pytest.mark.parametrize(
    "odd", ["SM<script>alert(1)</script>", "SM" + "0" * 31, "SM" + "0" * 32 + "\x00", ""]
)
async def test_an_answer_without_a_message_sid_is_looked_up_not_trusted(
    stack: SendingStack, twilio_standin: Standin, odd: str
) -> None:
    twilio_standin.control.reset()
    twilio_standin.control.odd_sids(2, odd)
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign = await messaging_campaign(client, channel, leads(3))
    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], "COMPLETED", "FAILED", within=60)
    assert done["execution"]["totalSent"] == 3, done

    sent = twilio_standin.control.messages()
    assert Counter(m["to"] for m in sent) == {f"+1415555{i:04d}": 1 for i in range(3)}
    found = await campaign_leads(client, campaign["id"])
    assert {lead["phoneNumber"]: lead["messageSid"] for lead in found} == {
        m["to"]: m["sid"] for m in sent
    }
    assert {lead["status"] for lead in found} == {"SENT"}
    assert {lead["possibleDuplicate"] for lead in found} == {False}
