"""The leadUpdates subscription over a real WebSocket (graphql-transport-ws): leads stream
while `clarion worker` sends a campaign to the Twilio stand-in, and when a change is
announced after a commit (as the status-callback and inbound webhooks do); another
account's campaign, an email campaign and malformed ids are refused."""

import asyncio
from typing import Any

from jobs import lead_events
from jobs.lead_events import announce
from tests.live_leads import (
    LEAD_UPDATES,
    lead_update,
    mark_delivered,
    nothing_within,
    stack_redis,
)
from tests.messaging_stack import campaign_leads, leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, act, campaign_for, stack, wait_until
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, pk_of
from tests.test_progress_subscriptions import UPDATES, receive, socket, subscribe
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]

NUL = "Text may not contain NUL (U+0000) or unpaired surrogates (U+D800 to U+DFFF)."


async def sent_campaign(client: GraphQLClient, standin: Standin, n: int) -> dict[str, Any]:
    """A campaign of `n` SMS leads, sent to the stand-in to the end."""
    channel = await twilio_channel_for(client, standin, "SMS")
    campaign = await messaging_campaign(client, channel, leads(n))
    await act(client, "startCampaign", campaign["id"])
    await wait_until(client, campaign["id"], "COMPLETED", "PARTIALLY_COMPLETED", "FAILED")
    return campaign


async def test_leads_stream_while_a_worker_sends_them(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS", rateLimit=5)
    campaign = await messaging_campaign(client, channel, leads(12))
    ids = {lead["id"] for lead in await campaign_leads(client, campaign["id"])}
    async with socket(client) as ws:
        await subscribe(ws, "l", LEAD_UPDATES, {"id": campaign["id"]})
        await asyncio.sleep(0.2)  # the subscription is registered
        await act(client, "startCampaign", campaign["id"])
        latest: dict[str, dict[str, Any]] = {}
        messages = 0
        while {lead["status"] for lead in latest.values()} != {"SENT"} or set(latest) != ids:
            for lead in await lead_update(ws):
                assert lead["status"] == "SENT", lead  # each read after its batch was recorded
                latest[lead["id"]] = lead
            messages += 1
        assert await nothing_within(ws, 1.0)  # nothing more once all are sent

    assert messages > 1  # live, batch by batch, not one message at the end
    sids = {m["to"]: m["sid"] for m in twilio_standin.control.messages()}
    assert {lead["phoneNumber"]: lead["messageSid"] for lead in latest.values()} == sids
    assert all(lead["sentAt"] and lead["deliveredAt"] is None for lead in latest.values())


async def test_a_change_announced_after_commit_reaches_subscribers(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    other = await stack.client("Other")
    campaign = await sent_campaign(client, twilio_standin, 3)
    theirs = await sent_campaign(other, twilio_standin, 1)
    first, second, _ = await campaign_leads(client, campaign["id"])
    (stranger,) = await campaign_leads(other, theirs["id"])
    campaign_pk = pk_of(campaign["id"], "Campaign")

    async with socket(client) as ws, stack_redis(stack) as redis:
        await subscribe(ws, "l", LEAD_UPDATES, {"id": campaign["id"]})
        await subscribe(ws, "u", UPDATES)
        await asyncio.sleep(0.2)

        # Unreadable messages on the account's channel are passed over.
        for junk in (b"not json", b'{"campaigns": {"x": [1]}}', b'{"campaigns": {"1": [true]}}'):
            await redis.publish(lead_events.channel(client.account_id), junk)
        await mark_delivered(stack, first["id"])
        # A message naming another account's lead under this campaign shows only its own.
        named = [pk_of(first["id"], "Lead"), pk_of(stranger["id"], "Lead")]
        await announce(stack.server.db, redis, client.account_id, {campaign_pk: named})
        seen = await updates_of(ws, "l", "u")
        assert [(lead["id"], lead["status"]) for lead in seen["l"]] == [(first["id"], "DELIVERED")]
        assert seen["l"][0]["deliveredAt"] == "2026-11-29T07:30:00+00:00"
        assert seen["u"]["campaignId"] == campaign["id"]  # progress published too

        await mark_delivered(stack, second["id"], read=True)
        await announce(
            stack.server.db, redis, client.account_id, {campaign_pk: [pk_of(second["id"], "Lead")]}
        )
        seen = await updates_of(ws, "l", "u")
        assert [(lead["id"], lead["status"]) for lead in seen["l"]] == [(second["id"], "READ")]


async def updates_of(ws: Any, *ops: str) -> dict[str, Any]:
    """The next message of each of the subscriptions `ops` (leads: their list)."""
    seen: dict[str, Any] = {}
    while set(seen) != set(ops):
        message = await receive(ws)
        assert message["type"] == "next", message
        data = message["payload"]["data"]
        seen[message["id"]] = (
            data["leadUpdates"]["leads"] if "leadUpdates" in data else data["campaignUpdates"]
        )
    return seen


async def test_another_account_hears_nothing_and_cannot_subscribe(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    other = await stack.client("Other")
    campaign = await messaging_campaign(
        client, await twilio_channel_for(client, twilio_standin, "SMS"), leads(5)
    )
    theirs = await messaging_campaign(
        other, await twilio_channel_for(other, twilio_standin, "SMS"), leads(2, start=50)
    )
    async with socket(other) as ws:
        await subscribe(ws, "mine", LEAD_UPDATES, {"id": campaign["id"]})
        refused = await receive(ws)
        assert refused["id"] == "mine"
        assert refused["payload"]["data"] is None
        assert refused["payload"]["errors"][0]["message"] == "Campaign not found."
        assert refused["payload"]["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
        assert await receive(ws) == {"id": "mine", "type": "complete"}

        await subscribe(ws, "own", LEAD_UPDATES, {"id": theirs["id"]})
        await asyncio.sleep(0.2)
        await act(client, "startCampaign", campaign["id"])
        await wait_until(client, campaign["id"], "COMPLETED")
        assert await nothing_within(ws, 1.5)


async def test_malformed_ids_and_email_campaigns_are_refused(
    stack: SendingStack, smtp_sink: SmtpSink, twilio_standin: Standin
) -> None:
    client = await stack.client()
    email = await campaign_for(client, smtp_sink, 2)
    lead_campaign = await messaging_campaign(
        client, await twilio_channel_for(client, twilio_standin, "SMS"), leads(1)
    )
    (lead,) = await campaign_leads(client, lead_campaign["id"])
    before = await client.snapshot()
    cases = {
        # Refused by the ID's parsing before the subscription runs.
        "nul": ("Campaign\x00:1", NUL, "error"),
        "control": ("\x1b[2J", "Campaign not found.", "NOT_FOUND"),
        "huge": ("Q" * 50_000, "Campaign not found.", "NOT_FOUND"),
        "lead": (lead["id"], "Campaign not found.", "NOT_FOUND"),  # another type's ID
        "email": (email, "An email campaign has no leads.", "BAD_REQUEST"),
    }
    async with socket(client) as ws:
        for op, (campaign_id, _, _) in cases.items():
            await subscribe(ws, op, LEAD_UPDATES, {"id": campaign_id})
        errors: dict[str, tuple[str, str]] = {}
        completed: set[str] = set()
        while len(completed) < len(cases):
            message = await receive(ws)
            if message["type"] == "complete":
                completed.add(message["id"])
                continue
            if message["type"] == "error":  # ends the operation
                errors[message["id"]] = (message["payload"][0]["message"], "error")
                completed.add(message["id"])
                continue
            assert message["payload"]["data"] is None, message
            error = message["payload"]["errors"][0]
            errors[message["id"]] = (error["message"], error["extensions"]["code"])
    assert errors == {op: (text, code) for op, (_, text, code) in cases.items()}
    assert await client.snapshot() == before
