"""Helpers for the inbound-message tests: campaigns sent for real (API, a `clarion worker`
process, the Twilio stand-in), then messages posted to /hooks/twilio/inbound the way
Twilio posts them, signed with `RequestValidator` over the channel's `inboundUrl`."""

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from db.models import Campaign, CampaignExecution, ConsentChange, Contact, Reply
from tests.hook_queues import inbound_drained
from tests.support import GraphQLClient, Server, pk_of

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
REPLY_FIELDS = "id body buttonPayload buttonText mediaUrls optOutKeyword isOptOut receivedAt"
LEAD_FIELDS = f"id phoneNumber status messageSid repliedAt lastReply {{ {REPLY_FIELDS} }}"


@dataclass(frozen=True)
class Channel:
    """A Twilio channel of an account: its code, database id, inbound URL and the auth
    token Twilio signs its webhooks with."""

    client: GraphQLClient
    code: str
    pk: int
    inbound_url: str
    token: str
    sender: str


async def channel_of(client: GraphQLClient, code: str, token: str, sender: str) -> Channel:
    data = await client.gql(
        "{ twilioChannels(first: 100) { edges { node { id code inboundUrl } } } }"
    )
    nodes = [edge["node"] for edge in data["twilioChannels"]["edges"]]
    found = next(c for c in nodes if c["code"] == code)
    return Channel(
        client, code, pk_of(found["id"], "TwilioChannel"), found["inboundUrl"], token, sender
    )


def inbound(number: str, body: str = "", *, to: str, **extra: str) -> dict[str, str]:
    """The parameters Twilio posts for a message from `number` ("whatsapp:+1…" or "+1…")."""
    return {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "SmsSid": "",
        "AccountSid": "AC" + "0" * 32,
        "From": number,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def signature(token: str, url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


async def post_signed(
    channel: Channel,
    params: dict[str, str],
    *,
    token: str | None = None,
    signed_url: str | None = None,
    posted_url: str | None = None,
    header: str | None = None,
) -> httpx.Response:
    """Posts `params` to the channel's inbound URL signed with its token; a test may sign
    with another token or URL, post to another URL, or send a header of its own."""
    posted = posted_url or channel.inbound_url
    sig = signature(token or channel.token, signed_url or posted, params)
    parts = urlsplit(posted)
    headers = {} if header == "" else {"X-Twilio-Signature": header or sig}
    server = channel.client.server
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        answer = await http.post(f"{parts.path}?{parts.query}", data=params, headers=headers)
    if answer.status_code == 200:  # answered once queued: until a worker applied it
        await inbound_applied(server)
    return answer


async def inbound_applied(server: Server, within: float = 30.0) -> None:
    """Waits until every inbound message the server queued is applied by a worker."""
    assert server.settings.redis_url is not None, "the stack's Redis has no URL to read"
    await inbound_drained(server.settings.redis_url, within)


async def reply_to(channel: Channel, params: dict[str, str]) -> httpx.Response:
    """Posts a signed message and checks the answer is empty TwiML."""
    response = await post_signed(channel, params)
    assert response.status_code == 200, response.text
    assert response.text == EMPTY_TWIML
    assert response.headers["content-type"].startswith("text/xml")
    return response


async def lead_at(client: GraphQLClient, campaign_id: str, number: str) -> dict[str, Any]:
    """The campaign's lead whose message went to `number`."""
    after = None
    while True:
        data = await client.gql(
            "query($id: ID!, $after: String) { campaign(id: $id) { leads(first: 100, after: "
            f"$after) {{ edges {{ node {{ {LEAD_FIELDS} }} }} pageInfo {{ hasNextPage "
            "endCursor } } } }",
            {"id": campaign_id, "after": after},
        )
        page = data["campaign"]["leads"]
        for edge in page["edges"]:
            if edge["node"]["phoneNumber"] == number:
                lead: dict[str, Any] = edge["node"]
                return lead
        assert page["pageInfo"]["hasNextPage"], f"no lead at {number}"
        after = page["pageInfo"]["endCursor"]


async def totals(client: GraphQLClient, campaign_id: str) -> tuple[int, int]:
    """The campaign's (total_replied, total_converted)."""
    async with client.server.db.read() as session:
        row = (
            await session.execute(
                select(CampaignExecution.total_replied, CampaignExecution.total_converted).where(
                    CampaignExecution.campaign_id == pk_of(campaign_id, "Campaign")
                )
            )
        ).one()
    return row.total_replied, row.total_converted


async def stored_reply(client: GraphQLClient, message_sid: str) -> Reply | None:
    async with client.server.db.read() as session:
        found: Reply | None = await session.scalar(
            select(Reply).where(
                Reply.account_id == client.account_id, Reply.message_sid == message_sid
            )
        )
        return found


async def contact_at(client: GraphQLClient, number: str) -> Contact | None:
    async with client.server.db.read() as session:
        found: Contact | None = await session.scalar(
            select(Contact).where(Contact.account_id == client.account_id, Contact.phone == number)
        )
        return found


async def consent_changes(client: GraphQLClient, contact_id: int) -> list[ConsentChange]:
    async with client.server.db.read() as session:
        rows = await session.scalars(
            select(ConsentChange)
            .where(ConsentChange.contact_id == contact_id)
            .order_by(ConsentChange.id)
        )
        return list(rows)


async def set_conversion_payloads(
    client: GraphQLClient, campaign_id: str, payloads: list[str]
) -> None:
    """Names the campaign's conversion payloads, straight in the database: the GraphQL
    input for them is another helper's work (branch of issue 10)."""
    async with client.server.db.write() as session:
        await session.execute(
            update(Campaign)
            .where(Campaign.id == pk_of(campaign_id, "Campaign"))
            .values(conversion_payloads=payloads)
        )
