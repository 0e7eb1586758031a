"""Live progress over WebSocket (graphql-transport-ws) while a `clarion worker` process, not
the API process, sends: snapshot, updates, completion; account isolation; limits."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from graph.subscription import UPDATES_PER_SECOND
from tests.sending_stack import SendingStack, act, campaign_for, channel_for, stack
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient

__all__ = ["stack"]

PROTOCOL = "graphql-transport-ws"
PROGRESS = """
subscription($id: ID!) {
  executionProgress(campaignId: $id) {
    campaignId campaignStatus status totalContacts totalSent totalFailed
    sendRatePerMinute eta at
  }
}
"""
UPDATES = "subscription { campaignUpdates { campaignId campaignStatus status totalSent } }"


@asynccontextmanager
async def socket(client: GraphQLClient) -> AsyncIterator[ClientConnection]:
    url = client.server.url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {client.key}"}}
            )
        )
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        yield ws


async def subscribe(
    ws: ClientConnection, op_id: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    payload = {"query": query, "variables": variables or {}}
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def receive(ws: ClientConnection, within: float = 30) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), within))
    return message


async def test_snapshot_then_updates_then_completion(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 200, channel={"rateLimit": 50})
    async with socket(client) as ws:
        await subscribe(ws, "p", PROGRESS, {"id": campaign_id})
        first = await receive(ws)
        assert first["type"] == "next"
        snapshot = first["payload"]["data"]["executionProgress"]
        assert snapshot["campaignId"] == campaign_id
        assert (snapshot["campaignStatus"], snapshot["status"], snapshot["totalSent"]) == (
            "DRAFT",
            None,
            0,
        )

        await act(client, "startCampaign", campaign_id)
        updates: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        began = loop.time()
        while (message := await receive(ws))["type"] == "next":
            updates.append(message["payload"]["data"]["executionProgress"])
        took = loop.time() - began
        assert message == {"id": "p", "type": "complete"}

    last = updates[-1]
    assert (last["campaignStatus"], last["status"], last["totalSent"]) == (
        "COMPLETED",
        "COMPLETED",
        200,
    )
    assert last["totalContacts"] == 200
    sent = [u["totalSent"] for u in updates]
    assert sent == sorted(sent)  # never backwards
    assert len(set(sent)) >= 5  # it moved while sending, not just at the end
    assert any(u["status"] == "PROCESSING" and u["sendRatePerMinute"] > 0 for u in updates)
    assert any(u["eta"] for u in updates if u["status"] == "PROCESSING")
    # Coalesced: at most 2 a second (and one to spare for the rounding).
    assert len(updates) <= UPDATES_PER_SECOND * took + 2
    ats = [u["at"] for u in updates]
    assert ats == sorted(ats)


async def test_a_finished_campaign_completes_after_its_snapshot(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 3)
    await act(client, "cancelCampaign", campaign_id)
    async with socket(client) as ws:
        await subscribe(ws, "p", PROGRESS, {"id": campaign_id})
        first = await receive(ws)
        assert first["payload"]["data"]["executionProgress"]["campaignStatus"] == "CANCELLED"
        assert await receive(ws) == {"id": "p", "type": "complete"}


async def test_accounts_see_only_their_own(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    other = await stack.client("Other")
    campaign_id = await campaign_for(client, smtp_sink, 20)
    async with socket(client) as mine, socket(other) as theirs:
        await subscribe(theirs, "p", PROGRESS, {"id": campaign_id})
        refused = await receive(theirs)
        assert refused["type"] == "next"
        assert refused["payload"]["data"] is None
        assert refused["payload"]["errors"][0]["message"] == "Campaign not found."
        assert refused["payload"]["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
        assert await receive(theirs) == {"id": "p", "type": "complete"}
        await subscribe(mine, "u", UPDATES)
        await subscribe(theirs, "u", UPDATES)
        await asyncio.sleep(0.2)  # both subscriptions are registered

        await act(client, "startCampaign", campaign_id)
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["status"] != "COMPLETED":
            message = await receive(mine)
            seen.append(message["payload"]["data"]["campaignUpdates"])
        assert {u["campaignId"] for u in seen} == {campaign_id}
        assert seen[-1]["totalSent"] == 20
        # The other account heard nothing of it.
        try:
            leaked = await receive(theirs, within=1.0)
        except TimeoutError:
            leaked = None
        assert leaked is None


async def test_subscriptions_per_connection_are_limited(stack: SendingStack) -> None:
    client = await stack.client()
    async with socket(client) as ws:
        for n in range(20):
            await subscribe(ws, str(n), UPDATES)
        await subscribe(ws, "one-too-many", UPDATES)
        refused = await receive(ws)
    assert refused["id"] == "one-too-many"
    assert refused["type"] == "error"
    assert refused["payload"][0]["message"] == "Subscription limit reached"


async def test_list_views_hear_of_new_and_changed_campaigns(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    await channel_for(client, smtp_sink)
    async with socket(client) as ws:
        await subscribe(ws, "u", UPDATES)
        await asyncio.sleep(0.2)  # the subscription is registered
        payload = await client.mutate(
            "createEmailCampaign",
            {
                "campaignName": "New",
                "emailChannel": "main",
                "contactTags": ["vip"],
                "subject": "Hi",
                "bodyHtml": "<p>hi</p>",
            },
            "campaign { id }",
        )
        campaign_id = payload["campaign"]["id"]
        created = await receive(ws)
        assert created["payload"]["data"]["campaignUpdates"] == {
            "campaignId": campaign_id,
            "campaignStatus": "DRAFT",
            "status": None,
            "totalSent": 0,
        }
        await act(client, "cancelCampaign", campaign_id)
        cancelled = await receive(ws)
        assert cancelled["payload"]["data"]["campaignUpdates"]["campaignStatus"] == "CANCELLED"
