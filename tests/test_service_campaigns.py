"""Service campaigns end to end: triggerServiceMessage over real HTTP, a `clarion worker`
process sending through the twilio package to the Twilio stand-in (its own process), and
what the stand-in holds compared with the leads. An SMS TEXT campaign needs no approval."""

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from db.models import Delivery
from tests.messaging_guarantees_stack import poll, run_of, sent_at_least
from tests.messaging_stack import LEAD_FIELDS, messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, stack
from tests.support import GraphQLClient, pk_of
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]

CAMPAIGN = "campaign { id status enabled totalLeads messagesSent }"
# Long enough for several sweeper ticks (2 s) and a run: what would be sent is.
SETTLE_S = 3.0


def trigger_input(campaign_id: str, key: str, **lead: Any) -> dict[str, Any]:
    return {
        "campaignId": campaign_id,
        "idempotencyKey": key,
        **({"phoneNumber": "+14155550100"} if "conversationUserId" not in lead else {}),
        "customVariables": {"first_name": "Ann", "code": "A1"},
        **lead,
    }


async def trigger(client: GraphQLClient, campaign_id: str, key: str, **lead: Any) -> Any:
    return await client.mutate(
        "triggerServiceMessage",
        trigger_input(campaign_id, key, **lead),
        f"replayed lead {{ {LEAD_FIELDS} idempotencyKey }} {CAMPAIGN}",
    )


def codes(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def set_enabled(client: GraphQLClient, campaign_id: str, enabled: bool) -> dict[str, Any]:
    payload = await client.mutate(
        "setCampaignEnabled", {"id": campaign_id, "enabled": enabled}, CAMPAIGN
    )
    assert payload["userErrors"] == [], payload
    campaign: dict[str, Any] = payload["campaign"]
    return campaign


async def service_campaign(
    client: GraphQLClient, channel: str, *, enabled: bool = True, **overrides: Any
) -> str:
    """An SMS TEXT SERVICE campaign without leads, enabled (running) unless told not to,
    its first run over (it found nothing to send: the execution's lastRunAt is set)."""
    campaign = await messaging_campaign(client, channel, [], campaignType="SERVICE", **overrides)
    if enabled:
        started = await set_enabled(client, campaign["id"], True)
        assert started["status"] == "RUNNING"
        assert started["enabled"] is not None

        async def first_run_over() -> bool:
            run = await run_of(client, campaign["id"])
            return run["execution"]["lastRunAt"] is not None

        await poll(first_run_over)
    campaign_id: str = campaign["id"]
    return campaign_id


async def rows_of_key(client: GraphQLClient, campaign_id: str, key: str) -> int:
    async with client.server.db.read() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.campaign_id == pk_of(campaign_id, "Campaign"),
                Delivery.trigger_key == key,
            )
        )
        return int(found or 0)


async def lead_status(client: GraphQLClient, lead_id: str) -> str:
    data = await client.gql(
        "query($id: ID!) { node(id: $id) { ... on Lead { status } } }", {"id": lead_id}
    )
    status: str = data["node"]["status"]
    return status


async def test_a_trigger_sends_one_message_and_the_run_waits_for_the_next(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign_id = await service_campaign(client, channel)

    first = await trigger(client, campaign_id, "order-1001")
    assert first["userErrors"] == [], first
    assert first["replayed"] is False
    assert first["lead"]["phoneNumber"] == "+14155550100"
    assert first["lead"]["idempotencyKey"] == "order-1001"
    assert first["lead"]["customVariables"] == {"first_name": "Ann", "code": "A1"}
    assert first["campaign"]["totalLeads"] == 1
    await sent_at_least(twilio_standin, 1)
    sent = twilio_standin.control.messages()
    assert [(m["to"], m["body"]) for m in sent] == [("+14155550100", "Hi Ann, your code is A1.")]

    # The run sent everything it had, and stays open for the next trigger.
    await asyncio.sleep(SETTLE_S)
    run = await run_of(client, campaign_id)
    assert run["status"] == "RUNNING"
    assert run["execution"]["status"] == "PROCESSING"
    assert run["execution"]["totalContacts"] == 1
    assert run["execution"]["totalSent"] == 1
    assert await lead_status(client, first["lead"]["id"]) == "SENT"

    # Another key for the same number is another message, counted like a marketing lead.
    second = await trigger(
        client, campaign_id, "order-1002", customVariables={"first_name": "Ann", "code": "B2"}
    )
    assert second["userErrors"] == []
    assert second["replayed"] is False
    assert second["lead"]["id"] != first["lead"]["id"]
    await sent_at_least(twilio_standin, 2)
    await asyncio.sleep(SETTLE_S)
    bodies = [m["body"] for m in twilio_standin.control.messages()]
    assert Counter(bodies) == {"Hi Ann, your code is A1.": 1, "Hi Ann, your code is B2.": 1}
    run = await run_of(client, campaign_id)
    assert (run["status"], run["execution"]["status"]) == ("RUNNING", "PROCESSING")
    assert (run["execution"]["totalContacts"], run["execution"]["totalSent"]) == (2, 2)
    data = await client.gql(
        "query($id: ID!) { campaign(id: $id) { totalLeads messagesSent } }", {"id": campaign_id}
    )
    assert data["campaign"] == {"totalLeads": 2, "messagesSent": 2}

    # A repeat of a key already sent answers with its lead and sends nothing.
    again = await trigger(client, campaign_id, "order-1001")
    assert again["userErrors"] == []
    assert again["replayed"] is True
    assert again["lead"]["id"] == first["lead"]["id"]
    assert again["lead"]["status"] == "SENT"
    await asyncio.sleep(SETTLE_S)
    assert len(twilio_standin.control.messages()) == 2


async def test_a_conversation_user_is_sent_with_its_contact_fields(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign_id = await service_campaign(client, channel)
    made = await client.mutate(
        "createContact", {"phone": "+14155550142", "firstName": "Bea"}, "contact { id }"
    )
    user = made["contact"]["id"]

    payload = await trigger(
        client, campaign_id, "signup-7", conversationUserId=user, customVariables={"code": "Z9"}
    )
    assert payload["userErrors"] == [], payload
    assert payload["lead"]["conversationUserId"] == user
    await sent_at_least(twilio_standin, 1)
    sent = twilio_standin.control.messages()
    assert [(m["to"], m["body"]) for m in sent] == [("+14155550142", "Hi Bea, your code is Z9.")]


async def test_twenty_concurrent_triggers_with_one_key_send_one_message(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign_id = await service_campaign(client, channel)

    answers = await asyncio.gather(*(trigger(client, campaign_id, "webhook-42") for _ in range(20)))
    assert [a["userErrors"] for a in answers] == [[]] * 20
    assert len({a["lead"]["id"] for a in answers}) == 1
    assert sorted(a["replayed"] for a in answers) == [False] + [True] * 19
    assert await rows_of_key(client, campaign_id, "webhook-42") == 1

    await sent_at_least(twilio_standin, 1)
    await asyncio.sleep(SETTLE_S)
    assert Counter(m["to"] for m in twilio_standin.control.messages()) == {"+14155550100": 1}
    run = await run_of(client, campaign_id)
    assert (run["execution"]["totalContacts"], run["execution"]["totalSent"]) == (1, 1)

    # The key reused for another lead or other variables is refused, changing nothing.
    before = await client.snapshot()
    for other in (
        {"phoneNumber": "+14155550101"},
        {"customVariables": {"first_name": "Ann", "code": "XX"}},
    ):
        refused = await trigger(client, campaign_id, "webhook-42", **other)
        assert codes(refused) == [("IDEMPOTENCY_KEY_REUSED", ["idempotencyKey"])]
        assert refused["lead"] is None
    assert await client.snapshot() == before
    await asyncio.sleep(SETTLE_S)
    assert len(twilio_standin.control.messages()) == 1


async def test_refused_triggers_change_nothing_and_send_nothing(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    running = await service_campaign(client, channel)
    draft = await service_campaign(client, channel, enabled=False, name="Later")
    cancelled = await service_campaign(client, channel, name="Ended")
    assert (await client.mutate("cancelCampaign", {"id": cancelled}, "campaign { id }"))[
        "userErrors"
    ] == []
    marketing = (
        await messaging_campaign(
            client,
            channel,
            [{"phoneNumber": "+14155550199", "customVariables": {"first_name": "M", "code": "1"}}],
            name="Sale",
        )
    )["id"]
    opted = await client.mutate(
        "createContact",
        {"phone": "+14155550177", "marketingConsent": {"sms": False}},
        "contact { id }",
    )
    opted_id = opted["contact"]["id"]
    # A WhatsApp service campaign needs an approved template like any: it cannot be
    # enabled before, so it takes no trigger.
    whatsapp = await service_campaign(
        client, await twilio_channel_for(client, twilio_standin, "WHATSAPP"), enabled=False
    )
    unapproved = await client.mutate(
        "setCampaignEnabled", {"id": whatsapp, "enabled": True}, "campaign { id }"
    )
    assert codes(unapproved) == [("NOT_APPROVED", ["approvalStatus"])]
    other = await stack.client("Other")
    other_channel = await twilio_channel_for(other, twilio_standin, "SMS")
    foreign = await service_campaign(other, other_channel)

    refusals: list[tuple[str, str, dict[str, Any], tuple[str, list[str] | None]]] = [
        (draft, "k1", {}, ("CAMPAIGN_NOT_ENABLED", ["campaignId"])),
        (cancelled, "k1", {}, ("CAMPAIGN_NOT_ENABLED", ["campaignId"])),
        (whatsapp, "k1", {}, ("CAMPAIGN_NOT_ENABLED", ["campaignId"])),
        (marketing, "k1", {}, ("NOT_A_SERVICE_CAMPAIGN", ["campaignId"])),
        (foreign, "k1", {}, ("NOT_FOUND", ["campaignId"])),
        (running, "", {}, ("REQUIRED", ["idempotencyKey"])),
        (running, "k" * 256, {}, ("TOO_LONG", ["idempotencyKey"])),
        (running, "k\x1bey", {}, ("INVALID", ["idempotencyKey"])),
        (running, "k\ney", {}, ("INVALID", ["idempotencyKey"])),
        (running, "k\u200bey", {}, ("INVALID", ["idempotencyKey"])),
        (running, "k1", {"phoneNumber": "12"}, ("INVALID", ["phoneNumber"])),
        (running, "k1", {"phoneNumber": "+1415555\x1b0100"}, ("INVALID", ["phoneNumber"])),
        (
            running,
            "k1",
            {"customVariables": {"first_name": "Ann"}},
            ("REQUIRED", ["customVariables"]),
        ),
        (
            running,
            "k1",
            {"customVariables": {"first_name": "Ann", "code": "a\x07b"}},
            ("INVALID", ["customVariables", "code"]),
        ),
        (running, "k1", {"customVariables": []}, ("INVALID", ["customVariables"])),
        (
            running,
            "k1",
            {"phoneNumber": "+14155550100", "conversationUserId": opted_id},
            ("INVALID", ["phoneNumber"]),
        ),
        (running, "k1", {"phoneNumber": "+14155550177"}, ("OPTED_OUT", ["phoneNumber"])),
        (
            running,
            "k1",
            {"conversationUserId": opted_id},
            ("OPTED_OUT", ["conversationUserId"]),
        ),
    ]
    before, before_other = await client.snapshot(), await other.snapshot()
    for campaign_id, key, lead, expected in refusals:
        refused = await trigger(client, campaign_id, key, **lead)
        assert codes(refused) == [expected], (key, lead, refused)
        assert refused["lead"] is None
        assert refused["campaign"] is None
    # NUL never reaches the use case: the API refuses it as a malformed request.
    query = (
        "mutation($input: TriggerServiceMessageInput!) { triggerServiceMessage(input: $input) "
        "{ lead { id } } }"
    )
    for nul in ({"idempotencyKey": "k\x00"}, {"phoneNumber": "+1415555\x000100"}):
        variables = {"input": {**trigger_input(running, "k1"), **nul}}
        body = (await client.raw(query, variables)).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert await client.snapshot() == before
    assert await other.snapshot() == before_other
    await asyncio.sleep(SETTLE_S)
    assert twilio_standin.control.messages() == []
    # Nor did any run of the idle service campaigns (each would move its lastRunAt): the
    # sweeper queues one only when a trigger left a row due.
    assert await client.snapshot() == before

    # A refused key is not used up: the same key with a good lead is taken.
    taken = await trigger(client, running, "k1")
    assert taken["userErrors"] == []
    assert taken["replayed"] is False
    await sent_at_least(twilio_standin, 1)


async def test_a_trigger_while_disabled_is_sent_once_enabled_again(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign_id = await service_campaign(client, channel)
    paused = await set_enabled(client, campaign_id, False)
    assert (paused["status"], paused["enabled"]) == ("PAUSED", None)

    held = await trigger(client, campaign_id, "order-9")
    assert held["userErrors"] == []
    assert held["lead"]["status"] == "PENDING"
    await asyncio.sleep(SETTLE_S)
    assert twilio_standin.control.messages() == []
    assert await lead_status(client, held["lead"]["id"]) == "PENDING"

    resumed = await set_enabled(client, campaign_id, True)
    assert resumed["status"] == "RUNNING"
    await sent_at_least(twilio_standin, 1)
    await asyncio.sleep(SETTLE_S)
    assert [m["body"] for m in twilio_standin.control.messages()] == ["Hi Ann, your code is A1."]
    run = await run_of(client, campaign_id)
    assert (run["status"], run["execution"]["status"]) == ("RUNNING", "PROCESSING")
    assert await lead_status(client, held["lead"]["id"]) == "SENT"


async def test_a_service_campaign_is_not_spread_over_a_window(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """A window would hold a lone trigger until its end: refused on create and update."""
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    draft = await service_campaign(client, channel, enabled=False)
    before = await client.snapshot()
    created = await client.mutate(
        "createMessagingCampaign",
        {
            "name": "Orders",
            "channel": channel,
            "campaignType": "SERVICE",
            "contentType": "TEXT",
            "contentContext": {"body": "Hi"},
            "executionDurationMinutes": 10,
        },
        "campaign { id }",
    )
    assert codes(created) == [("INVALID", ["executionDurationMinutes"])]
    updated = await client.mutate(
        "updateCampaign", {"id": draft, "executionDurationMinutes": 5}, "campaign { id }"
    )
    assert codes(updated) == [("INVALID", ["executionDurationMinutes"])]
    assert await client.snapshot() == before
