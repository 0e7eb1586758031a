"""WhatsApp and SMS sending, end to end: the API starts a campaign, a `clarion worker`
process sends it through the twilio package to the Twilio stand-in (its own process), and
what the stand-in holds is compared with the leads."""

import asyncio
from collections import Counter

import httpx

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


async def test_a_suspended_channel_halts_its_campaign_until_active(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS", rateLimit=5)
    campaign = await messaging_campaign(client, channel, leads(40))
    channel_id = (await client.gql("{ twilioChannels { edges { node { id } } } }"))[
        "twilioChannels"
    ]["edges"][0]["node"]["id"]
    await act(client, "startCampaign", campaign["id"])
    await wait_for_sent(twilio_standin, 5)

    payload = await client.mutate(
        "updateTwilioChannel", {"id": channel_id, "status": "SUSPENDED"}, "twilioChannel { id }"
    )
    assert payload["userErrors"] == []
    halted = await wait_until(client, campaign["id"], "HALTED")
    assert "'sms'" in halted["execution"]["errorMessage"]
    assert "suspended" in halted["execution"]["errorMessage"]
    await asyncio.sleep(1.5)  # a batch in flight when it halted is recorded, then no more
    sent_when_halted = len(twilio_standin.control.messages())
    await asyncio.sleep(1.5)
    assert len(twilio_standin.control.messages()) == sent_when_halted < 40

    refused = await client.mutate("deleteTwilioChannel", {"id": channel_id}, "deletedId")
    assert [e["code"] for e in refused["userErrors"]] == ["IN_USE"]
    changed = await client.mutate(
        "updateTwilioChannel", {"id": channel_id, "channelType": "WHATSAPP"}, "twilioChannel { id }"
    )
    assert [(e["code"], e["field"]) for e in changed["userErrors"]] == [("IN_USE", ["channelType"])]

    payload = await client.mutate(
        "updateTwilioChannel", {"id": channel_id, "status": "ACTIVE"}, "twilioChannel { id }"
    )
    assert payload["userErrors"] == []
    done = await wait_until(client, campaign["id"], "COMPLETED", within=60)
    assert done["execution"]["totalSent"] == 40
    assert Counter(m["to"] for m in twilio_standin.control.messages()) == {
        f"+1415555{i:04d}": 1 for i in range(40)
    }


async def wait_for_sent(standin: Standin, n: int, within: float = 30) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while len(standin.control.messages()) < n:
        assert loop.time() < give_up, f"fewer than {n} messages arrived"
        await asyncio.sleep(0.05)


async def test_a_template_of_the_users_account_is_checked_and_sent(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    twilio_standin.control.approval_plan("approved", after_fetches=0)
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "WHATSAPP")
    types = {"twilio/text": {"body": "Hi {{first_name}}, your code is {{code}}."}}
    auth = (twilio_standin.account_sid, twilio_standin.auth_token)
    async with httpx.AsyncClient(base_url=twilio_standin.base_url, auth=auth) as raw:
        made = await raw.post("/v1/Content", json={"language": "en", "types": types})
        sid = made.json()["sid"]
        approval = {"name": "codes", "category": "UTILITY"}
        await raw.post(f"/v1/Content/{sid}/ApprovalRequests/whatsapp", json=approval)

    before = await client.snapshot()
    for wrong, code in (("HX" + "0" * 32, "NOT_FOUND"), ("HX12", "INVALID")):
        refused = await client.mutate(
            "createMessagingCampaign",
            {"name": "x", "channel": channel, "contentSid": wrong, "leads": leads(1)},
            "campaign { id }",
        )
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [(code, ["contentSid"])]
    assert await client.snapshot() == before

    campaign = await messaging_campaign(
        client, channel, leads(3), contentSid=sid, contentType=None, contentContext=None
    )
    assert campaign["approvalStatus"] == "APPROVED"
    assert campaign["contextVariables"] == ["first_name", "code"]
    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], "COMPLETED", "FAILED", within=60)
    assert done["execution"]["totalSent"] == 3, done
    sent = {m["to"]: m["standin"] for m in twilio_standin.control.messages()}
    assert set(sent) == {f"whatsapp:+1415555{i:04d}" for i in range(3)}
    assert {m["content_sid"] for m in sent.values()} == {sid}
    assert sent["whatsapp:+14155550002"]["content_variables"] == {
        "first_name": "Name2",
        "code": "C2",
    }
