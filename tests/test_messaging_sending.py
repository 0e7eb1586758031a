"""WhatsApp and SMS sending, end to end: the API starts a campaign, a `clarion worker`
process sends it through the twilio package to the Twilio stand-in (its own process), and
what the stand-in holds is compared with the leads."""

from collections import Counter

from tests.messaging_stack import (
    campaign_leads,
    leads,
    messaging_campaign,
    twilio_channel_for,
)
from tests.sending_stack import SendingStack, act, stack, wait_until
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]


async def test_every_sms_lead_gets_exactly_one_message(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign = await messaging_campaign(client, channel, leads(30))
    assert campaign["totalLeads"] == 30
    assert campaign["bodyPreview"] == "Hi Name0, your code is C0."
    assert campaign["bodyPreviewSegments"] == 1

    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], "COMPLETED", "FAILED", within=60)
    assert done["execution"]["totalSent"] == 30, done

    sent = twilio_standin.control.messages()
    assert Counter(m["to"] for m in sent) == {f"+1415555{i:04d}": 1 for i in range(30)}
    bodies = {m["to"]: m["body"] for m in sent}
    assert bodies["+14155550007"] == "Hi Name7, your code is C7."
    by_number = {lead["phoneNumber"]: lead for lead in await campaign_leads(client, campaign["id"])}
    assert {lead["status"] for lead in by_number.values()} == {"SENT"}
    assert {m["to"]: m["sid"] for m in sent} == {
        n: lead["messageSid"] for n, lead in by_number.items()
    }
