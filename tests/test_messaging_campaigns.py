"""createMessagingCampaign over real HTTP: every content type per channel, each refusal
with its exact path into contentContext and nothing written, the created campaign's
fields and previews, and what starting a campaign puts in its ledger (no worker: the
ledger is written at start)."""

import base64
from typing import Any

import pytest
from sqlalchemy import select

from db import models
from db.enums import ApprovalStatus
from graph.errors import camel
from tests.messaging_api import (
    CAMPAIGN,
    add_leads,
    campaign_of,
    create,
    created,
    errors_of,
    leads_of,
    make_twilio_channel,
)
from tests.support import (
    GraphQLClient,
    import_contacts,
    make_channel,
    make_email_campaign,
    pk_of,
)

URL0 = {"type": "URL", "title": "Shop", "url": "https://example.com/shop"}
PHONE = {"type": "PHONE_NUMBER", "title": "Call us", "phone": "+442071838750"}


def qr(n: int) -> dict[str, Any]:
    return {"type": "QUICK_REPLY", "title": f"Option {n}", "id": f"o{n}"}


# A valid WhatsApp context of each type (Meta's rules: no variable first or last).
WHATSAPP: dict[str, dict[str, Any]] = {
    "TEXT": {"body": "Hi {{first_name}}, welcome."},
    "MEDIA": {"body": "Your ticket {{code}} is here.", "media": ["https://example.com/t.png"]},
    "CARD": {"title": "Hello {{first_name}} there", "subtitle": "Sale", "actions": [URL0]},
    "CALL_TO_ACTION": {"body": "Call us, {{first_name}}, today.", "actions": [URL0, PHONE]},
    "QUICK_REPLY": {"body": "Are you coming, {{first_name}}?", "actions": [qr(0), qr(1)]},
}
# A representative refusal of each type: (channel, type, context, field, code).
REFUSALS = [
    ("SMS", "TEXT", {"body": "x" * 1601}, ["contentContext", "body"], "TOO_LONG"),
    ("SMS", "TEXT", {"body": "Hi", "media": []}, ["contentContext", "media"], "INVALID"),
    ("WHATSAPP", "TEXT", {"body": "{{first_name}}, hi"}, ["contentContext", "body"], "INVALID"),
    (
        "WHATSAPP",
        "MEDIA",
        {"body": "Hi", "media": ["ftp://example.com/a.png"]},
        ["contentContext", "media", "0"],
        "INVALID",
    ),
    (
        "WHATSAPP",
        "CARD",
        {"title": "Hi", "subtitle": "s" * 61},
        ["contentContext", "subtitle"],
        "TOO_LONG",
    ),
    (
        "WHATSAPP",
        "CARD",
        {"title": "Hi", "actions": [{**URL0, "webview_size": "HUGE"}]},
        ["contentContext", "actions", "0", "webview_size"],
        "INVALID",
    ),
    (
        "WHATSAPP",
        "CALL_TO_ACTION",
        {"body": "Call us", "actions": [URL0, {**PHONE, "phone": "020 7183 8750"}]},
        ["contentContext", "actions", "1", "phone"],
        "INVALID",
    ),
    (
        "WHATSAPP",
        "QUICK_REPLY",
        {"body": "Coming?", "actions": [qr(0), qr(1), {**qr(2), "title": "t" * 21}]},
        ["contentContext", "actions", "2", "title"],
        "TOO_LONG",
    ),
    ("SMS", "CARD", {"title": "Hi", "subtitle": "s"}, ["contentType"], "INVALID"),
]


@pytest.fixture
async def channels(client: GraphQLClient) -> GraphQLClient:
    await make_twilio_channel(client, "SMS")
    await make_twilio_channel(client, "WHATSAPP")
    return client


async def test_sms_text_campaign_and_all_its_fields(channels: GraphQLClient) -> None:
    body = {"body": "Hi {{first_name}}, your code is {{code}}."}
    campaign = await created(channels, contentContext=body, campaignType="SERVICE")
    assert {k: v for k, v in campaign.items() if k != "id"} == {
        "status": "DRAFT",
        "channelType": "SMS",
        "campaignType": "SERVICE",
        "contentType": "TEXT",
        "contentContext": body,
        "contentSid": None,
        "approvalStatus": "UNSUBMITTED",
        "rejectionReason": None,
        "enabled": None,
        "totalLeads": 0,
        "messagesSent": 0,
        "customVariableKeys": [],
        "contextVariables": ["first_name", "code"],
        # No lead yet: each variable's sample is its name.
        "bodyPreview": "Hi first_name, your code is code.",
        "bodyPreviewSegments": 1,
        "twilioChannel": {"code": "sms"},
    }
    rows = [
        {"phoneNumber": "+14155550101", "customVariables": {"first_name": "Ann", "code": "A1"}},
        {"phoneNumber": "+14155550102", "customVariables": {"first_name": "Bob", "code": "B2"}},
    ]
    assert (await add_leads(channels, campaign["id"], rows))["userErrors"] == []
    now = await campaign_of(channels, campaign["id"])
    assert now["bodyPreview"] == "Hi Ann, your code is A1."  # the first lead's values
    assert (now["totalLeads"], now["customVariableKeys"]) == (2, ["code", "first_name"])


async def test_sms_media_campaign(channels: GraphQLClient) -> None:
    media = ["https://example.com/a.png", "https://example.com/b.png"]
    campaign = await created(
        channels, contentType="MEDIA", contentContext={"body": "Look", "media": media}
    )
    assert (campaign["contentType"], campaign["contentContext"]) == (
        "MEDIA",
        {"body": "Look", "media": media},
    )
    assert (campaign["bodyPreview"], campaign["bodyPreviewSegments"]) == ("Look", 1)


@pytest.mark.parametrize("content_type", list(WHATSAPP))
async def test_whatsapp_campaign_of_each_type(channels: GraphQLClient, content_type: str) -> None:
    context = WHATSAPP[content_type]
    campaign = await created(
        channels, channel="whatsapp", contentType=content_type, contentContext=context
    )
    assert campaign["channelType"] == "WHATSAPP"
    assert (campaign["contentType"], campaign["contentContext"]) == (content_type, context)
    assert campaign["approvalStatus"] == "UNSUBMITTED"
    assert campaign["bodyPreviewSegments"] is None  # SMS only
    expected = ["code"] if content_type == "MEDIA" else ["first_name"]
    assert campaign["contextVariables"] == expected


@pytest.mark.parametrize(("channel", "kind", "context", "field", "code"), REFUSALS)
async def test_content_refusals_point_into_the_json(
    channels: GraphQLClient,
    channel: str,
    kind: str,
    context: dict[str, Any],
    field: list[str],
    code: str,
) -> None:
    before = await channels.snapshot()
    payload = await create(
        channels, channel=channel.lower(), contentType=kind, contentContext=context
    )
    assert payload["campaign"] is None
    assert errors_of(payload) == [(field, code)]
    assert await channels.snapshot() == before


@pytest.mark.parametrize(
    ("input", "expected"),
    [
        (
            {"contentContext": {"body": "Hi"}, "contentSid": "HX" + "0" * 32},
            [(["contentSid"], "INVALID")],
        ),
        ({}, [(["contentContext"], "REQUIRED")]),
        ({"contentContext": {"body": "Hi"}, "contentType": None}, [(["contentType"], "REQUIRED")]),
        ({"contentSid": "HX123"}, [(["contentSid"], "INVALID")]),
        ({"contentSid": "hx" + "0" * 32}, [(["contentSid"], "INVALID")]),
        # The channel's Twilio account is read for it: unreachable here.
        ({"contentSid": "HX" + "0" * 32}, [(["contentSid"], "SEND_FAILED")]),
        (
            {"contentContext": {"body": "Hi"}, "scheduledAt": "2020-01-01T00:00:00Z"},
            [(["scheduledAt"], "INVALID")],
        ),
        (
            {"contentContext": {"body": "Hi"}, "executionDurationMinutes": 0},
            [(["executionDurationMinutes"], "OUT_OF_RANGE")],
        ),
        (
            {"contentContext": {"body": "Hi"}, "description": "a\x1bb"},
            [(["description"], "INVALID")],
        ),
        ({"contentContext": {"body": "Hi"}, "channel": "nope"}, [(["channel"], "NOT_FOUND")]),
        ({"contentContext": {"body": "Hi"}, "channel": "Bad Code!"}, [(["channel"], "INVALID")]),
        ({"contentContext": {"body": "Hi"}, "name": " "}, [(["name"], "REQUIRED")]),
        ({"contentContext": "Hi"}, [(["contentContext"], "INVALID")]),
        ({"contentContext": {"body": "Hi"}, "audience": "nope"}, [(["audience"], "NOT_FOUND")]),
        ({"contentContext": {"body": "Hi"}, "audience": "a" * 101}, [(["audience"], "TOO_LONG")]),
        ({"contentContext": {"body": "Hi"}, "audience": "vi\x1bp"}, [(["audience"], "INVALID")]),
    ],
)
async def test_create_refusals(
    channels: GraphQLClient, input: dict[str, Any], expected: list[Any]
) -> None:
    before = await channels.snapshot()
    payload = await create(channels, **input)
    assert payload["campaign"] is None
    assert errors_of(payload) == expected
    assert await channels.snapshot() == before


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, 1),  # GSM-7: 160 in one
        ("a" * 161, 2),  # then 153 a segment
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # an extension character takes two septets
        ("€" * 81, 2),
        ("é" + "a" * 69, 1),  # é is GSM-7
        ("ł" + "a" * 69, 1),  # ł is not: UCS-2, 70 in one
        ("ł" + "a" * 70, 2),  # then 67 a segment
        ("ł" + "a" * 133, 2),
        ("ł" + "a" * 134, 3),
    ],
)
async def test_sms_preview_segments(channels: GraphQLClient, body: str, segments: int) -> None:
    campaign = await created(channels, contentContext={"body": body})
    assert (campaign["bodyPreview"], campaign["bodyPreviewSegments"]) == (body, segments)


async def test_preview_segments_follow_the_first_leads_values(channels: GraphQLClient) -> None:
    campaign = await created(channels, contentContext={"body": "a" * 150 + "{{x}}"})
    assert campaign["bodyPreviewSegments"] == 1  # the sample "x": 151 GSM-7 characters
    rows = [{"phoneNumber": "+14155550101", "customVariables": {"x": "ł"}}]
    assert (await add_leads(channels, campaign["id"], rows))["userErrors"] == []
    now = await campaign_of(channels, campaign["id"])
    assert (now["bodyPreview"], now["bodyPreviewSegments"]) == ("a" * 150 + "ł", 3)


async def test_create_with_leads_is_all_or_nothing(channels: GraphQLClient) -> None:
    before = await channels.snapshot()
    rows = [
        {"phoneNumber": "+14155550101", "customVariables": {"first_name": "Ann"}},
        {"phoneNumber": "4155550102", "customVariables": {"first_name": "Bob"}},
    ]
    payload = await create(channels, contentContext={"body": "Hi {{first_name}}"}, leads=rows)
    assert errors_of(payload) == [(["leads", "1", "phoneNumber"], "INVALID")]
    assert await channels.snapshot() == before

    rows[1]["phoneNumber"] = "+1 415-555-0102"
    campaign = await created(channels, contentContext={"body": "Hi {{first_name}}"}, leads=rows)
    assert campaign["totalLeads"] == 2
    assert campaign["bodyPreview"] == "Hi Ann"
    assert [lead["phoneNumber"] for lead in await leads_of(channels, campaign["id"])] == [
        "+14155550102",  # newest first
        "+14155550101",
    ]


# Starting (no worker needed: the ledger is written at start).


async def start(client: GraphQLClient, campaign_id: str) -> dict[str, Any]:
    return await client.mutate("startCampaign", {"id": campaign_id}, "campaign { status enabled }")


async def test_sms_campaign_starts_with_a_row_per_active_lead(channels: GraphQLClient) -> None:
    rows = [
        {"phoneNumber": f"+1415555010{i}", "customVariables": {"first_name": f"N{i}"}}
        for i in range(4)
    ]
    campaign = await created(channels, contentContext={"body": "Hi {{first_name}}"}, leads=rows)
    ids = [lead["id"] for lead in await leads_of(channels, campaign["id"])]
    removed = await channels.mutate(
        "removeLeads", {"campaignId": campaign["id"], "leadIds": [ids[0]]}, "removedCount"
    )
    assert (removed["userErrors"], removed["removedCount"]) == ([], 1)
    payload = await start(channels, campaign["id"])
    assert payload["userErrors"] == []
    assert payload["campaign"]["status"] == "RUNNING"
    now = await campaign_of(channels, campaign["id"])
    assert now["execution"] == {"status": "PENDING", "totalContacts": 3, "totalSkipped": 0}
    assert now["totalLeads"] == 3
    statuses = [
        (lead["status"], lead["active"]) for lead in await leads_of(channels, campaign["id"])
    ]
    assert statuses == [("CANCELLED", False)] + [("PENDING", True)] * 3


async def test_a_campaign_without_leads_or_audience_does_not_start(
    channels: GraphQLClient,
) -> None:
    campaign = await created(channels, contentContext={"body": "Hi"})
    before = await channels.snapshot()
    payload = await start(channels, campaign["id"])
    assert errors_of(payload) == [(["leads"], "EMPTY_AUDIENCE")]
    assert payload["userErrors"][0]["message"] == "The campaign has no active lead and no audience."
    assert await channels.snapshot() == before


async def test_whatsapp_not_approved_does_not_start(channels: GraphQLClient) -> None:
    rows = [{"phoneNumber": "+14155550101", "customVariables": {"first_name": "Ann"}}]
    campaign = await created(
        channels, channel="whatsapp", contentContext=WHATSAPP["TEXT"], leads=rows
    )
    before = await channels.snapshot()
    for action in ("startCampaign", "setCampaignEnabled"):
        input: dict[str, Any] = {"id": campaign["id"]}
        if action == "setCampaignEnabled":
            input["enabled"] = True
        payload = await channels.mutate(action, input, "campaign { id }")
        assert errors_of(payload) == [(["approvalStatus"], "NOT_APPROVED")]
        assert "UNSUBMITTED" in payload["userErrors"][0]["message"].upper()
        assert await channels.snapshot() == before


async def test_set_campaign_enabled_switches_and_stamps(channels: GraphQLClient) -> None:
    rows = [{"phoneNumber": "+14155550101", "customVariables": {"first_name": "Ann"}}]
    campaign = await created(channels, contentContext={"body": "Hi {{first_name}}"}, leads=rows)

    async def switch(enabled: bool) -> dict[str, Any]:
        payload = await channels.mutate(
            "setCampaignEnabled",
            {"id": campaign["id"], "enabled": enabled},
            "campaign { status enabled execution { startedAt resumedAt } }",
        )
        assert payload["userErrors"] == [], payload
        found: dict[str, Any] = payload["campaign"]
        return found

    off = await switch(False)  # a draft is already off: nothing changes
    assert (off["status"], off["enabled"], off["execution"]) == ("DRAFT", None, None)
    on = await switch(True)
    assert on["status"] == "RUNNING"
    assert on["enabled"] == on["execution"]["startedAt"] is not None
    assert (await switch(True))["enabled"] == on["enabled"]  # already on
    paused = await switch(False)
    assert (paused["status"], paused["enabled"]) == ("PAUSED", None)
    again = await switch(True)
    assert again["status"] == "RUNNING"
    assert again["enabled"] == again["execution"]["resumedAt"]
    assert again["enabled"] > on["enabled"]


async def test_audience_members_with_a_number_and_consent_join_at_start(
    channels: GraphQLClient,
) -> None:
    contacts: list[dict[str, Any]] = [
        {"phone": "+14155550201", "firstName": "Ann", "tags": ["vip"]},
        {"phone": "+14155550202", "firstName": "Bob", "tags": ["vip"]},
        # No SMS consent: left out and counted.
        {
            "phone": "+14155550203",
            "firstName": "Cy",
            "tags": ["vip"],
            "marketingConsent": {"sms": False},
        },
        # No phone (email only): never a lead.
        {"email": "dee@example.test", "firstName": "Dee", "tags": ["vip"]},
        # Not in the audience.
        {"phone": "+14155550205", "firstName": "Eve", "tags": ["other"]},
        # In the audience, but no first_name, which the content uses: cancelled at start.
        {"phone": "+14155550206", "tags": ["vip"]},
    ]
    for row in contacts:
        payload = await channels.mutate("createContact", row, "contact { id }")
        assert payload["userErrors"] == [], payload
    audience = await channels.mutate(
        "createAudience", {"name": "VIP", "tags": ["vip"], "code": "vip"}, "audience { code }"
    )
    assert audience["userErrors"] == []
    campaign = await created(channels, contentContext={"body": "Hi {{first_name}}"}, audience="vip")
    assert campaign["totalLeads"] == 0
    assert (await start(channels, campaign["id"]))["userErrors"] == []
    now = await campaign_of(channels, campaign["id"])
    assert now["execution"] == {"status": "PENDING", "totalContacts": 2, "totalSkipped": 1}
    found = {
        lead["phoneNumber"]: (lead["status"], lead["errorMessage"])
        for lead in await leads_of(channels, campaign["id"])
    }
    assert found == {
        "+14155550201": ("PENDING", None),
        "+14155550202": ("PENDING", None),
        "+14155550206": ("CANCELLED", "No value for the variable(s) first_name."),
    }


async def test_leads_without_consent_or_a_value_are_left_out_at_start(
    channels: GraphQLClient,
) -> None:
    made = []
    for row in (
        {"phone": "+14155550301", "firstName": "Ann"},
        {"phone": "+14155550302"},  # no first_name
        {"phone": "+14155550303", "firstName": "Cy", "marketingConsent": {"sms": False}},
    ):
        payload = await channels.mutate("createContact", row, "contact { id }")
        assert payload["userErrors"] == [], payload
        made.append(payload["contact"]["id"])
    rows = [{"conversationUserId": contact} for contact in made]
    campaign = await created(channels, contentContext={"body": "Hi {{first_name}}"}, leads=rows)
    assert campaign["totalLeads"] == 3
    assert (await start(channels, campaign["id"]))["userErrors"] == []
    now = await campaign_of(channels, campaign["id"])
    assert now["execution"] == {"status": "PENDING", "totalContacts": 1, "totalSkipped": 2}
    found = [
        (lead["status"], lead["errorMessage"]) for lead in await leads_of(channels, campaign["id"])
    ]
    assert found == [  # newest first
        ("OPTED_OUT", "The contact withdrew consent for the channel before the start."),
        ("CANCELLED", "No value for the variable(s) first_name."),
        ("PENDING", None),
    ]


# The email API beside it.


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fromEmail": "news@acme.test"}, "from_email"),
        ({"fromName": "Acme"}, "from_name"),
        ({"replyToEmail": "help@acme.test"}, "reply_to_email"),
        ({"replyToName": "Help"}, "reply_to_name"),
        ({"utmCode": "spring"}, "utm_code"),
        ({"emailChannel": "main"}, "email_channel"),
        ({"emailTemplate": "spring-sale"}, "email_template"),
    ],
)
async def test_update_refuses_email_fields_on_a_messaging_campaign(
    channels: GraphQLClient, change: dict[str, Any], field: str
) -> None:
    await make_channel(channels)
    await make_email_campaign(channels)  # its template's code is spring-sale
    campaign = await created(channels, contentContext={"body": "Hi"})
    before = await channels.snapshot()
    payload = await channels.mutate(
        "updateCampaign", {"id": campaign["id"], "name": "New", **change}, "campaign { name }"
    )
    assert errors_of(payload) == [([camel(field)], "INVALID")]
    assert payload["userErrors"][0]["message"] == f"{field} does not apply to SMS campaigns."
    assert await channels.snapshot() == before


async def test_update_changes_what_a_messaging_campaign_has(channels: GraphQLClient) -> None:
    audience = await channels.mutate(
        "createAudience", {"name": "VIP", "tags": ["vip"], "code": "vip"}, "audience { id }"
    )
    campaign = await created(channels, contentContext={"body": "Hi"})
    payload = await channels.mutate(
        "updateCampaign",
        {
            "id": campaign["id"],
            "name": "New",
            "description": "d",
            "audience": "vip",
            "executionDurationMinutes": 30,
        },
        "campaign { name description audience { id } executionDurationMinutes fromEmail }",
    )
    assert payload["userErrors"] == []
    assert payload["campaign"] == {
        "name": "New",
        "description": "d",
        "audience": {"id": audience["audience"]["id"]},
        "executionDurationMinutes": 30,
        "fromEmail": "",
    }


async def test_email_campaigns_are_as_before(channels: GraphQLClient) -> None:
    await make_channel(channels)
    await import_contacts(channels, [{"email": "ann@example.test", "tags": ["vip"]}])
    email = await make_email_campaign(channels)
    payload = await channels.mutate(
        "updateCampaign",
        {"id": email["id"], "fromEmail": "sales@acme.test", "utmCode": "spring"},
        "campaign { fromEmail utmCode }",
    )
    assert payload == {
        "campaign": {"fromEmail": "sales@acme.test", "utmCode": "spring"},
        "userErrors": [],
    }
    assert (await start(channels, email["id"]))["userErrors"] == []
    found = await channels.gql(
        "query($id: ID!) { campaign(id: $id) { channelType contentType contentContext "
        "approvalStatus enabled totalLeads customVariableKeys contextVariables bodyPreview "
        "leads(first: 10) { edges { node { id } } } execution { totalContacts } } }",
        {"id": email["id"]},
    )
    assert found["campaign"] == {
        "channelType": "EMAIL",
        "contentType": None,
        "contentContext": None,
        "approvalStatus": None,
        "enabled": found["campaign"]["enabled"],
        "totalLeads": 0,
        "customVariableKeys": [],
        "contextVariables": [],
        "bodyPreview": None,
        "leads": {"edges": []},  # its recipients are deliveries, not leads
        "execution": {"totalContacts": 1},
    }
    # Nor is its delivery a Lead node.
    async with channels.server.db.read() as session:
        delivery = await session.scalar(
            select(models.Delivery.id).where(
                models.Delivery.campaign_id == pk_of(email["id"], "Campaign")
            )
        )
    guessed = base64.urlsafe_b64encode(f"Lead:{delivery}".encode()).decode().rstrip("=")
    found = await channels.gql("query($id: ID!) { node(id: $id) { id } }", {"id": guessed})
    assert found == {"node": None}
    plain = await channels.mutate(
        "createCampaign",
        {
            "name": "Plain",
            "audience": email["audience"]["code"],
            "emailChannel": "main",
            "emailTemplate": "spring-sale",
        },
        "campaign { channelType status }",
    )
    assert plain == {"campaign": {"channelType": "EMAIL", "status": "DRAFT"}, "userErrors": []}


# Isolation and hostile inputs.


async def test_another_account_can_see_or_touch_none_of_it(
    channels: GraphQLClient, new_client: Any
) -> None:
    a = channels
    await a.mutate(
        "createAudience", {"name": "VIP", "tags": ["vip"], "code": "vip"}, "audience { id }"
    )
    rows = [{"phoneNumber": "+14155550101", "customVariables": {"first_name": "Ann"}}]
    campaign = await created(a, contentContext={"body": "Hi {{first_name}}"}, leads=rows)
    lead_id = (await leads_of(a, campaign["id"]))[0]["id"]
    channel_id = (await a.gql("{ twilioChannels { edges { node { id code } } } }"))[
        "twilioChannels"
    ]["edges"][0]["node"]["id"]
    b = await new_client("Other")
    before_a, before_b = await a.snapshot(), await b.snapshot()

    for global_id in (campaign["id"], lead_id, channel_id):
        found = await b.gql("query($id: ID!) { node(id: $id) { id } }", {"id": global_id})
        assert found == {"node": None}, global_id
    found = await b.gql(
        "query($id: ID!) { campaign(id: $id) { id leads { edges { node { id } } } } }",
        {"id": campaign["id"]},
    )
    assert found == {"campaign": None}
    assert (await b.gql("{ campaigns { totalCount } }"))["campaigns"]["totalCount"] == 0

    payload = await add_leads(b, campaign["id"], rows)
    assert errors_of(payload) == [(["campaignId"], "NOT_FOUND")]
    payload = await b.mutate(
        "removeLeads", {"campaignId": campaign["id"], "leadIds": [lead_id]}, "removedCount"
    )
    assert errors_of(payload) == [(["campaignId"], "NOT_FOUND")]
    for enabled in (True, False):
        payload = await b.mutate(
            "setCampaignEnabled", {"id": campaign["id"], "enabled": enabled}, "campaign { id }"
        )
        assert errors_of(payload) == [(["id"], "NOT_FOUND")]
    for action in ("startCampaign", "pauseCampaign", "cancelCampaign", "deleteCampaign"):
        payload = await b.mutate(action, {"id": campaign["id"]}, "__typename")
        assert errors_of(payload) == [(["id"], "NOT_FOUND")], action
    payload = await b.mutate(
        "updateCampaign", {"id": campaign["id"], "name": "Mine"}, "campaign { id }"
    )
    assert errors_of(payload) == [(["id"], "NOT_FOUND")]
    # A's channel code and audience mean nothing to B.
    assert errors_of(await create(b, contentContext={"body": "Hi"})) == [(["channel"], "NOT_FOUND")]
    await make_twilio_channel(b, "SMS")
    before_b = await b.snapshot()
    assert errors_of(await create(b, contentContext={"body": "Hi"}, audience="vip")) == [
        (["audience"], "NOT_FOUND")
    ]
    # B's own campaign cannot take A's lead.
    mine = await created(b, contentContext={"body": "Hi"}, leads=[{"phoneNumber": "+14155550101"}])
    before_b = await b.snapshot()
    payload = await b.mutate(
        "removeLeads", {"campaignId": mine["id"], "leadIds": [lead_id]}, "removedCount"
    )
    assert errors_of(payload) == [(["leadIds", "0"], "NOT_FOUND")]
    assert await a.snapshot() == before_a
    assert await b.snapshot() == before_b
    assert len(await leads_of(a, campaign["id"])) == 1


async def top_level_error(client: GraphQLClient, input: dict[str, Any]) -> str:
    """The message of a request refused before any resolver runs (nothing written)."""
    response = await client.raw(
        "mutation($input: CreateMessagingCampaignInput!) { createMessagingCampaign(input: "
        "$input) { campaign { id } } }",
        {"input": input},
    )
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1
    message: str = errors[0]["message"]
    return message


@pytest.mark.parametrize(
    "where",
    [
        {"contentContext": {"body": "Hi\x00"}},
        {"contentContext": {"body\x00": "Hi"}},
        {"contentContext": {"body": "Hi"}, "leads": [{"phoneNumber": "+14155550101\x00"}]},
        {
            "contentContext": {"body": "Hi"},
            "leads": [{"phoneNumber": "+14155550101", "customVariables": {"a": "b\x00"}}],
        },
        {
            "contentContext": {"body": "Hi"},
            "leads": [{"phoneNumber": "+14155550101", "customVariables": {"a\x00": "b"}}],
        },
    ],
)
async def test_nul_anywhere_is_refused_before_anything_runs(
    channels: GraphQLClient, where: dict[str, Any]
) -> None:
    before = await channels.snapshot()
    input = {"name": "N", "channel": "sms", "contentType": "TEXT", **where}
    assert (await top_level_error(channels, input)).startswith("Text may not contain NUL")
    assert await channels.snapshot() == before


async def test_oversized_and_deep_content_is_refused(channels: GraphQLClient) -> None:
    before = await channels.snapshot()
    # Over the request body cap (2 MiB): refused by the server before GraphQL.
    response = await channels.raw(
        "mutation($input: CreateMessagingCampaignInput!) { createMessagingCampaign(input: "
        "$input) { campaign { id } } }",
        {
            "input": {
                "name": "N",
                "channel": "sms",
                "contentType": "TEXT",
                "contentContext": {"body": "x" * (2 * 1024 * 1024)},
            }
        },
    )
    assert response.status_code == 413
    # Under the body cap, over the content's own caps: user errors at the context.
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    cases: list[tuple[Any, tuple[str, str], str]] = [
        ({"body": "x" * 1_500_000}, ("body", "TOO_LONG"), "longer than 1600 characters"),
        ({"body": "Hi", "media": deep}, ("", "INVALID"), "nested deeper than 4 levels"),
        ({"body": "Hi", "extra": list(range(600))}, ("", "INVALID"), "more than 500 values"),
        ({f"k{i}": "v" for i in range(501)}, ("", "INVALID"), "more than 500 values"),
        ([deep], ("", "INVALID"), "must be a JSON object"),
        (42, ("", "INVALID"), "must be a JSON object"),
    ]
    for context, (step, code), message in cases:
        payload = await create(channels, contentContext=context)
        field = ["contentContext", step] if step else ["contentContext"]
        assert errors_of(payload) == [(field, code)], str(context)[:80]
        assert message in payload["userErrors"][0]["message"]
        assert await channels.snapshot() == before
    # Deep custom variables: a value that is not a string.
    nested: Any = "x"
    for _ in range(200):
        nested = {"a": nested}
    row = {"phoneNumber": "+14155550101", "customVariables": {"v": nested}}
    payload = await create(channels, contentContext={"body": "Hi"}, leads=[row])
    assert errors_of(payload) == [(["leads", "0", "customVariables", "v"], "INVALID")]
    assert await channels.snapshot() == before


# updateCampaign of a WhatsApp/SMS campaign's content.


async def update(client: GraphQLClient, campaign_id: str, **changes: Any) -> dict[str, Any]:
    return await client.mutate(
        "updateCampaign", {"id": campaign_id, **changes}, f"campaign {{ {CAMPAIGN} }}"
    )


async def test_update_content_of_a_draft(channels: GraphQLClient) -> None:
    campaign = await created(channels, contentContext={"body": "Hi"})
    payload = await update(channels, campaign["id"], contentContext={"body": "Hey {{nick}}"})
    assert payload["userErrors"] == []
    now = payload["campaign"]
    assert (now["contentType"], now["contentContext"]) == ("TEXT", {"body": "Hey {{nick}}"})
    assert (now["contextVariables"], now["bodyPreview"]) == (["nick"], "Hey nick")
    media = {"body": "Look", "media": ["https://example.com/a.png"]}
    payload = await update(channels, campaign["id"], contentType="MEDIA", contentContext=media)
    assert payload["userErrors"] == []
    assert (payload["campaign"]["contentType"], payload["campaign"]["contentContext"]) == (
        "MEDIA",
        media,
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"contentContext": {"body": "x" * 1601}}, [(["contentContext", "body"], "TOO_LONG")]),
        (
            {"contentContext": {"body": "Hi", "ttl_minutes": 5}},
            [(["contentContext", "ttl_minutes"], "INVALID")],
        ),
        ({"contentType": "CARD"}, [(["contentType"], "INVALID")]),
        # TEXT's context is not MEDIA's (no media).
        (
            {"contentType": "MEDIA", "contentContext": {"title": "Hi"}},
            [(["contentContext", "title"], "INVALID"), (["contentContext", "media"], "REQUIRED")],
        ),
        ({"contentContext": [1]}, [(["contentContext"], "INVALID")]),
    ],
)
async def test_update_content_refusals(
    channels: GraphQLClient, changes: dict[str, Any], expected: list[Any]
) -> None:
    campaign = await created(channels, contentContext={"body": "Hi"})
    before = await channels.snapshot(), await campaign_of(channels, campaign["id"])
    payload = await update(channels, campaign["id"], **changes)
    assert payload["campaign"] is None
    assert errors_of(payload) == expected
    assert (await channels.snapshot(), await campaign_of(channels, campaign["id"])) == before


async def test_a_whatsapp_content_change_needs_approval_again(channels: GraphQLClient) -> None:
    campaign = await created(channels, channel="whatsapp", contentContext=WHATSAPP["TEXT"])
    async with channels.server.db.write() as session:
        content = await session.get_one(models.MessagingContent, pk_of(campaign["id"], "Campaign"))
        content.approval_status = ApprovalStatus.REJECTED
        content.rejection_reason = "Too promotional."
        content.created_content_sid = "HX" + "1" * 32
    # The same content again changes nothing.
    same = await update(
        channels, campaign["id"], contentType="TEXT", contentContext=WHATSAPP["TEXT"]
    )
    assert (same["campaign"]["approvalStatus"], same["campaign"]["rejectionReason"]) == (
        "REJECTED",
        "Too promotional.",
    )
    assert same["campaign"]["contentSid"] == "HX" + "1" * 32
    # Meta's rules hold for an update as on create.
    bad = await update(channels, campaign["id"], contentContext={"body": "{{first_name}}, hi"})
    assert errors_of(bad) == [(["contentContext", "body"], "INVALID")]
    new = {"body": "Hello again, {{first_name}}!"}
    changed = await update(channels, campaign["id"], contentContext=new)
    assert changed["userErrors"] == []
    assert {
        k: changed["campaign"][k]
        for k in ("approvalStatus", "rejectionReason", "contentSid", "contentContext")
    } == {
        "approvalStatus": "UNSUBMITTED",
        "rejectionReason": None,
        "contentSid": None,
        "contentContext": new,
    }


async def test_content_cannot_change_once_started_nor_on_email(channels: GraphQLClient) -> None:
    rows = [{"phoneNumber": "+14155550101"}]
    campaign = await created(channels, contentContext={"body": "Hi"}, leads=rows)
    assert (await start(channels, campaign["id"]))["userErrors"] == []
    before = await channels.snapshot(), await campaign_of(channels, campaign["id"])
    payload = await update(channels, campaign["id"], contentContext={"body": "Changed"})
    assert errors_of(payload) == [(["contentContext"], "NOT_EDITABLE")]
    assert (await channels.snapshot(), await campaign_of(channels, campaign["id"])) == before

    await make_channel(channels)
    email = await make_email_campaign(channels)
    before = await channels.snapshot(), await campaign_of(channels, email["id"])
    payload = await update(channels, email["id"], contentType="TEXT", contentContext={"body": "Hi"})
    assert errors_of(payload) == [(["contentContext"], "INVALID"), (["contentType"], "INVALID")]
    assert (
        payload["userErrors"][0]["message"] == "content_context does not apply to email campaigns."
    )
    assert (await channels.snapshot(), await campaign_of(channels, email["id"])) == before


async def test_set_campaign_enabled_on_a_scheduled_campaign(channels: GraphQLClient) -> None:
    rows = [{"phoneNumber": "+14155550101"}]
    campaign = await created(
        channels, contentContext={"body": "Hi"}, leads=rows, scheduledAt="2099-01-01T00:00:00Z"
    )
    payload = await channels.mutate(
        "setCampaignEnabled",
        {"id": campaign["id"], "enabled": True},
        "campaign { status enabled updatedAt }",
    )
    assert payload["userErrors"] == []
    assert payload["campaign"]["status"] == "SCHEDULED"
    assert payload["campaign"]["enabled"] == payload["campaign"]["updatedAt"]
    before = await channels.snapshot()
    payload = await channels.mutate(
        "setCampaignEnabled", {"id": campaign["id"], "enabled": False}, "campaign { id }"
    )
    assert errors_of(payload) == [(["id"], "INVALID_STATE")]
    assert payload["userErrors"][0]["message"] == (
        "A scheduled campaign cannot be disabled (cancel it, or reschedule it)."
    )
    assert await channels.snapshot() == before


async def test_an_audience_sends_one_message_a_number(channels: GraphQLClient) -> None:
    """WhatsApp goes to a contact's WhatsApp number: two members sharing one, or a member
    whose number a lead already goes to, make one lead, not two messages to one phone."""
    for row in (
        {"phone": "+14155550401", "whatsapp": "+14155550499", "firstName": "A", "tags": ["vip"]},
        {"phone": "+14155550402", "whatsapp": "+14155550499", "firstName": "B", "tags": ["vip"]},
        {"phone": "+14155550403", "whatsapp": "+14155550498", "firstName": "C", "tags": ["vip"]},
        {"phone": "+14155550404", "firstName": "D", "tags": ["vip"]},
    ):
        payload = await channels.mutate("createContact", row, "contact { id }")
        assert payload["userErrors"] == [], payload
    await channels.mutate(
        "createAudience", {"name": "VIP", "tags": ["vip"], "code": "vip"}, "audience { id }"
    )
    lead = {"phoneNumber": "+14155550498", "customVariables": {"first_name": "Lead"}}
    campaign = await created(
        channels,
        channel="whatsapp",
        contentContext=WHATSAPP["TEXT"],
        audience="vip",
        leads=[lead],
    )
    async with channels.server.db.write() as session:
        content = await session.get_one(models.MessagingContent, pk_of(campaign["id"], "Campaign"))
        content.approval_status = ApprovalStatus.APPROVED  # as if submitted and approved
        content.created_content_sid = "HX" + "2" * 32
    assert (await start(channels, campaign["id"]))["userErrors"] == []
    found = sorted(
        (row["phoneNumber"], str(row["customVariables"]))
        for row in await leads_of(channels, campaign["id"])
    )
    assert found == [
        ("+14155550404", "{}"),
        ("+14155550498", "{'first_name': 'Lead'}"),
        ("+14155550499", "{}"),
    ]
    now = await campaign_of(channels, campaign["id"])
    assert now["execution"]["totalContacts"] == 3
