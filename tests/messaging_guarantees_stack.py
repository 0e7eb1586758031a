"""Helpers for the WhatsApp/SMS sending-guarantee tests: approved WhatsApp campaigns
against the Twilio stand-in, and what the stand-in and the ledger hold, side by side."""

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import select, update
from twilio.rest import Client

from db.enums import ApprovalStatus, DeliveryStatus
from db.models import CampaignExecution, Delivery, MessagingContent
from tests.messaging_stack import TEXT_CONTENT, campaign_leads, messaging_campaign
from tests.support import GraphQLClient, pk_of
from tests.twilio_standin.client import StandinHttpClient
from tests.twilio_standin.fixture import Standin

EXECUTION = """
    status errorMessage nextRunAt lastRunAt totalContacts totalSent totalFailed totalSkipped
"""


def numbers(n: int, start: int = 0) -> list[str]:
    """The numbers of `tests.messaging_stack.leads(n, start)`."""
    return [f"+1415555{i:04d}" for i in range(start, start + n)]


def once_each(addresses: list[str], prefix: str = "") -> Counter[str]:
    return Counter({f"{prefix}{a}": 1 for a in addresses})


def at_standin(standin: Standin) -> Counter[str]:
    """Messages the stand-in made, per `To`."""
    return Counter(m["to"] for m in standin.control.messages())


async def by_number(client: GraphQLClient, campaign_id: str) -> dict[str, dict[str, Any]]:
    return {lead["phoneNumber"]: lead for lead in await campaign_leads(client, campaign_id)}


async def statuses(client: GraphQLClient, campaign_id: str) -> dict[str, str]:
    return {n: lead["status"] for n, lead in (await by_number(client, campaign_id)).items()}


async def run_of(client: GraphQLClient, campaign_id: str) -> dict[str, Any]:
    data = await client.gql(
        f"query($id: ID!) {{ campaign(id: $id) {{ status execution {{ {EXECUTION} }} }} }}",
        {"id": campaign_id},
    )
    campaign: dict[str, Any] = data["campaign"]
    return campaign


async def claimed(client: GraphQLClient, campaign_id: str) -> set[str]:
    """The numbers whose ledger rows are claimed (status sending) now."""
    async with client.server.db.read() as session:
        found = await session.scalars(
            select(Delivery.address).where(
                Delivery.campaign_id == pk_of(campaign_id, "Campaign"),
                Delivery.status == DeliveryStatus.SENDING,
            )
        )
        return set(found)


def _standin_client(standin: Standin) -> Client:
    http = StandinHttpClient(standin.base_url, timeout=10)
    return Client(standin.account_sid, standin.auth_token, http_client=http)


def _approved_content(standin: Standin, body: str) -> str:
    twilio = _standin_client(standin)
    request = twilio.content.v1.contents.ContentCreateRequest(
        {
            "friendly_name": "spring_sale",
            "language": "en",
            "variables": {},
            "types": {"twilio/text": {"body": body}},
        }
    )
    sid = str(twilio.content.v1.contents.create(request).sid)
    standin.control.approval_plan("approved", after_fetches=0, content_sid=sid)
    creator = twilio.content.v1.contents(sid).approval_create
    creator.create(creator.ContentApprovalRequest({"name": "spring_sale", "category": "MARKETING"}))
    return sid


async def approve(client: GraphQLClient, campaign_id: str, content_sid: str) -> None:
    """Marks the campaign approved with `content_sid` as its Content resource, straight in
    the database: submitCampaignForApproval is another helper's work (branch `approval`),
    and these tests are about sending an approved campaign, not about approving it."""
    async with client.server.db.write() as session:
        await session.execute(
            update(MessagingContent)
            .where(MessagingContent.campaign_id == pk_of(campaign_id, "Campaign"))
            .values(approval_status=ApprovalStatus.APPROVED, created_content_sid=content_sid)
        )


async def whatsapp_campaign(
    client: GraphQLClient,
    standin: Standin,
    channel: str,
    lead_rows: list[dict[str, Any]],
    **overrides: Any,
) -> tuple[dict[str, Any], str]:
    """An approved WhatsApp campaign whose Content resource (TEXT_CONTENT's body, approved
    at the stand-in too) exists in the stand-in; the campaign and its content SID."""
    campaign = await messaging_campaign(client, channel, lead_rows, **overrides)
    body = str(overrides.get("contentContext", TEXT_CONTENT)["body"])
    sid = await asyncio.to_thread(_approved_content, standin, body)
    await approve(client, campaign["id"], sid)
    return campaign, sid


async def due_now(client: GraphQLClient, campaign_id: str) -> None:
    """Moves a halted execution's next run to now: the time it waits (an hour for Meta's
    messaging limit) passes at once, and the sweeper continues it on its next tick."""
    from db.clock import db_now

    async with client.server.db.write() as session:
        now = await db_now(session)
        await session.execute(
            update(CampaignExecution)
            .where(CampaignExecution.campaign_id == pk_of(campaign_id, "Campaign"))
            .values(next_run_at=now)
        )


async def poll(done: Any, within: float = 30.0) -> None:
    """Waits until `await done()` is true; fails after `within` seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not await done():
        assert loop.time() < give_up, f"never true within {within}s"
        await asyncio.sleep(0.1)


async def sent_at_least(standin: Standin, n: int, within: float = 30.0) -> int:
    """Waits until the stand-in made at least `n` messages; returns how many it has."""

    async def enough() -> bool:
        return len(await asyncio.to_thread(standin.control.messages)) >= n

    await poll(enough, within)
    return len(standin.control.messages())
