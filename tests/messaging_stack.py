"""Builders for WhatsApp/SMS tests: a Twilio channel pointed at the stand-in, and
campaigns with leads."""

from typing import Any

from tests.support import GraphQLClient
from tests.twilio_standin.fixture import Standin

CAMPAIGN_FIELDS = """
    id status channelType approvalStatus totalLeads messagesSent contextVariables
    customVariableKeys bodyPreview bodyPreviewSegments enabled
"""
LEAD_FIELDS = """
    id phoneNumber conversationUserId customVariables status messageSid errorCode
    errorMessage sentAt active possibleDuplicate
"""


async def twilio_channel_for(
    client: GraphQLClient, standin: Standin, channel_type: str = "SMS", **overrides: Any
) -> str:
    """A channel of the stand-in's sample account, no rate limit, a quota no test reaches
    unless told; returns its code."""
    sender = next(
        s for s in standin.senders if s.startswith("whatsapp:") == (channel_type == "WHATSAPP")
    )
    input = {
        "code": channel_type.lower(),
        "channelType": channel_type,
        "accountSid": standin.account_sid,
        "authToken": standin.auth_token,
        "fromNumber": sender.removeprefix("whatsapp:"),
        "apiBaseUrl": standin.base_url,
        "rateLimit": None,
        "dailyQuota": 1_000_000,
        **overrides,
    }
    payload = await client.mutate("createTwilioChannel", input, "twilioChannel { code }")
    assert payload["userErrors"] == [], payload
    code: str = payload["twilioChannel"]["code"]
    return code


def leads(n: int, start: int = 0) -> list[dict[str, Any]]:
    """`n` leads with distinct valid US numbers and the variables TEXT_CONTENT uses."""
    return [
        {
            "phoneNumber": f"+1415555{i:04d}",
            "customVariables": {"first_name": f"Name{i}", "code": f"C{i}"},
        }
        for i in range(start, start + n)
    ]


TEXT_CONTENT = {"body": "Hi {{first_name}}, your code is {{code}}."}


async def messaging_campaign(
    client: GraphQLClient, channel: str, lead_rows: list[dict[str, Any]], **overrides: Any
) -> dict[str, Any]:
    input = {
        "name": "Spring sale",
        "channel": channel,
        "contentType": "TEXT",
        "contentContext": TEXT_CONTENT,
        "leads": lead_rows,
        **overrides,
    }
    payload = await client.mutate(
        "createMessagingCampaign", input, f"campaign {{ {CAMPAIGN_FIELDS} }}"
    )
    assert payload["userErrors"] == [], payload["userErrors"]
    campaign: dict[str, Any] = payload["campaign"]
    return campaign


async def campaign_leads(client: GraphQLClient, campaign_id: str) -> list[dict[str, Any]]:
    """Every lead of the campaign (all pages), oldest first."""
    out: list[dict[str, Any]] = []
    after = None
    while True:
        data = await client.gql(
            "query($id: ID!, $after: String) { campaign(id: $id) { leads(first: 100, after: "
            f"$after) {{ edges {{ node {{ {LEAD_FIELDS} }} }} pageInfo {{ hasNextPage "
            "endCursor } } } }",
            {"id": campaign_id, "after": after},
        )
        page = data["campaign"]["leads"]
        out += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return out[::-1]
        after = page["pageInfo"]["endCursor"]
