"""Builders for the WhatsApp/SMS API tests (no stand-in: nothing here talks to Twilio)."""

from typing import Any

from tests.support import GraphQLClient

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "5eC12e7t0k3n5eC12e7t0k3n5eC12e7x"
CAMPAIGN = """
    id status channelType campaignType contentType contentContext contentSid approvalStatus
    rejectionReason enabled totalLeads messagesSent customVariableKeys contextVariables
    bodyPreview bodyPreviewSegments twilioChannel { code }
"""
LEAD = "id phoneNumber conversationUserId customVariables status errorMessage active"


def errors_of(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    assert all(e["message"] for e in payload["userErrors"]), payload["userErrors"]
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def make_twilio_channel(
    client: GraphQLClient, channel_type: str = "SMS", code: str | None = None
) -> str:
    """A channel that is never called (its base URL is a closed loopback port)."""
    input = {
        "code": code or channel_type.lower(),
        "channelType": channel_type,
        "accountSid": SID,
        "authToken": TOKEN,
        "fromNumber": "+14155550100",
        "apiBaseUrl": "http://127.0.0.1:9",
    }
    payload = await client.mutate("createTwilioChannel", input, "twilioChannel { code }")
    assert payload["userErrors"] == [], payload
    made: str = payload["twilioChannel"]["code"]
    return made


async def create(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    """createMessagingCampaign's payload (campaign with every messaging field)."""
    fields = {"name": "Spring sale", "channel": "sms", "contentType": "TEXT", **input}
    return await client.mutate("createMessagingCampaign", fields, f"campaign {{ {CAMPAIGN} }}")


async def created(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    payload = await create(client, **input)
    assert payload["userErrors"] == [], payload["userErrors"]
    campaign: dict[str, Any] = payload["campaign"]
    return campaign


async def add_leads(client: GraphQLClient, campaign_id: str, rows: list[Any]) -> dict[str, Any]:
    return await client.mutate(
        "addLeads",
        {"campaignId": campaign_id, "leads": rows},
        f"leads {{ {LEAD} }} campaign {{ totalLeads customVariableKeys }}",
    )


async def campaign_of(client: GraphQLClient, campaign_id: str) -> dict[str, Any]:
    data = await client.gql(
        f"query($id: ID!) {{ campaign(id: $id) {{ {CAMPAIGN} execution {{ status "
        "totalContacts totalSkipped } } }",
        {"id": campaign_id},
    )
    found: dict[str, Any] = data["campaign"]
    return found


async def leads_of(
    client: GraphQLClient, campaign_id: str, status: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every lead (all pages of 100), in the order the API lists them."""
    out: list[dict[str, Any]] = []
    after = None
    while True:
        data = await client.gql(
            "query($id: ID!, $after: String, $status: [LeadStatus!]) { campaign(id: $id) { "
            f"leads(first: 100, after: $after, status: $status) {{ edges {{ node {{ {LEAD} }} }}"
            " pageInfo { hasNextPage endCursor } } } }",
            {"id": campaign_id, "after": after, "status": status},
        )
        page = data["campaign"]["leads"]
        out += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]
